"""The live run: pre-flight, apply, follow, clean up, publish and review.

It asks the core what each observation means and reaches the outside only
through its ports, which the plugin fills (it imports nothing of the edges). It
knows nothing of pytest: the plugin layer hands it options and reads its outcomes.

- ``steps``: the verdict of one live step of one experiment (lifecycle, quality, review),
  what the plugin's items ask for and render;
- ``live_run``: ``LiveRun``, one per pytest session: the launches; start, follow, finish;
- ``connection``: the cluster once connected (or why not), the CRD, the store, GitHub;
- ``watches``: one watch per namespace, shared by the session;
- ``role``: the run id, and whether this process is the xdist controller;
- ``preflight``: may an experiment be applied (its cost, WorkflowTemplate, the operator);
- ``launcher``: the create, the ``--experiment-max-concurrent`` queue, the run label;
- ``follow``: the lifecycle of one instance, phase by phase against its budgets;
- ``endings``: how a followed run ended (Complete, Failed, stuck, deleted);
- ``operator_watch``: an instance with no status while the operator has no ready replica;
- ``cleanup``: the cleanup policy at session end, strays, instances an auto-fix replaced;
- ``publish`` and ``analyzer``: results, analyzer, quality gate and auto-fix re-runs;
- ``review_gate``: the review of a published run's PR;
- ``launch``: one experiment's fixed identity and the state each stage keeps of it;
- ``published``: what publishing one run produced, read by the quality and review items;
- ``contexts``: what the stages use of the live run, so none of them imports it;
- ``ports``: what the run needs from outside (the cluster, its watch, the results store,
  GitHub, the toil log), handed over as one ``Connections``;
- ``output``: where the run writes, and the lines other threads leave for it.
"""
