"""The live run: pre-flight, apply, follow, clean up, publish and review.

It drives the edges and asks the core what each observation means. It knows
nothing of pytest: the plugin layer hands it options and reads its outcomes.

- ``steps``: the verdict of one live step of one experiment (lifecycle, quality, review),
  what the plugin's items ask for and render;
- ``live_run``: ``LiveRun``, one per pytest session: connect, the watches, start, finish;
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
- ``ports``: what the run needs from outside (the cluster, the results store).
"""
