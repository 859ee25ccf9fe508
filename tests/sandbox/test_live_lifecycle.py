"""The live lifecycle as a user runs it: pytest over experiment files against the sandbox.

Each test writes experiments into a pytester directory, chooses the simulated
operator's scenario for their generateName, runs the plugin in a subprocess
and reads what a user would: exit code, outcomes, terminal lines, the JSON
report, the toil records and what is left on the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest
from fakes import FakeTools
from kubernetes import client
from troubleshooting import documented

from pytest_experiment.base.resources import (
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    WORKFLOW_TEMPLATES,
)
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import custom_lister, list_raw, wait_until

from .lifecycle import NAMESPACE, OPERATOR_FLAVOURS, TIMEOUT, Run, SetScenario, experiment_doc
from .runs import DeleteWhenRunning, exists, managed, run_live, wait_gone, write

pytestmark = pytest.mark.usefixtures("s3_credentials")

PHASES = ("Pending", "Provisioning", "Ready", "Running")
# Where the seed files a failure in each phase.
FAILURE_LABEL = {
    "Pending": "operator",
    "Provisioning": "crossplane",
    "Ready": "argocd",
    "Running": "workflow",
}
TIMEOUT_LABEL = {
    "Pending": "crossplane",
    "Provisioning": "crossplane",
    "Ready": "argocd",
    "Running": "workflow",
}
# The real operator never fails an experiment before Running: the target fails and the
# experiment stays where it was (a cluster refused at once is already Provisioning).
STUCK_IN = {"Pending": "Provisioning", "Provisioning": "Provisioning", "Ready": "Ready"}
STUCK_LABEL = {"Provisioning": "crossplane", "Ready": "argocd"}
# The diagnostic parts; each is content or a one-line reason it could not be read.
DIAGNOSTIC_TITLES = (
    "conditions",
    "operator logs mentioning",
    "workflows (",
    "failed pods (",
    "GKECluster claims (",
    "ArgoCD applications (",
    "events of ",
)
HOSTILE = '"quotes" $(rm -rf /) ; echo pwned'


def assert_diagnostics(details: Sequence[str], instance: str) -> None:
    assert details[0] == f"diagnostics for {instance}:"
    for title in DIAGNOSTIC_TITLES:
        matching = [line for line in details if line.startswith(title)]
        assert matching, f"no {title!r} part in {details}"
        header = matching[0]
        # A part is its lines under a header, "none", or one line saying why it is missing.
        assert header.endswith((":", ": none")) or ": unavailable: " in header, header


def phase_prefixes(tag: str) -> dict[str, str]:
    return {phase: f"{tag}{phase[:4].lower()}-" for phase in PHASES}


# -- happy path ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_happy_path_applies_follows_and_deletes(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None, flavour: str,
) -> None:  # fmt: skip
    scenario(prefix, "happy", operator=flavour)
    write(pytester, "fsync", experiment_doc(prefix, publish=True))
    # Approved, so the published instance has nothing left to hold it (a review left
    # Pending keeps it: see test_publishing).
    session = run_live(pytester, sandbox, "--experiment-review=approve")
    assert session.result.ret == pytest.ExitCode.OK
    outcomes = session.result.parseoutcomes()
    assert "failed" not in outcomes
    assert "errors" not in outcomes
    instance = session.instance("fsync")["instance"]
    assert instance.startswith(prefix)
    session.result.stdout.fnmatch_lines(
        [
            f"Applied experiment: {instance} (from experiments/fsync/)",
            f"{instance}: Pending",
            f"{instance}: Provisioning",
            "  target app: * (cluster: *)",
            f"{instance}: Ready",
            "  application *: health *, sync *",
            f"{instance}: Running",
            "  workflow *",
            f"{instance}: Complete",
            "*::lifecycle PASSED*",
            "Instances:",
            f"  deleted {instance} (fsync): passed",
        ]
    )
    lifecycle = session.lifecycle("fsync")
    assert lifecycle["verdict"] == "pass"
    assert lifecycle["summary"].startswith(f"[PASS] Experiment {instance} completed in ")
    # The real operator's words are validated/invalidated; the seeds' confirmed/rejected.
    assert lifecycle["summary"].endswith(
        "hypothesis: validated" if flavour == "real" else "hypothesis: confirmed"
    )
    assert session.instance("fsync")["phase"] == "Complete"
    assert session.report["cleanup"] == [
        {"experiment": "fsync", "instance": instance, "action": "deleted", "reason": "passed",
         "command": ""}
    ]  # fmt: skip
    # The quality checks scored the summary the run wrote.
    checks = {c["check"]: c for c in session.instance("fsync")["checks"]}
    assert checks["custom-metrics"]["verdict"] == "pass", checks["custom-metrics"]
    assert session.report["toil"] == []
    assert session.toil_file() == []
    review = session.instance("fsync")["review"]
    assert review["verdict"] == "pass"
    assert review["summary"].startswith("[PASS] Review: approved; PR #")
    wait_gone(k8s, instance)
    # One watch for the session, not a poll per experiment.
    assert session.report["session"]["watch"]["watches"] == 1


# -- Failed in each phase ----------------------------------------------------------------------


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_failed_in_each_phase_gives_diagnostics_toil_and_keeps_the_instance(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None, flavour: str,
) -> None:  # fmt: skip
    prefixes = phase_prefixes(prefix)
    for phase, generate_name in prefixes.items():
        scenario(
            generate_name, f"fail-{phase.lower()}", message=f"broke in {phase}: see runbook",
            operator=flavour,
        )  # fmt: skip
        write(pytester, phase.lower(), experiment_doc(generate_name))
    session = run_live(pytester, sandbox)
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    stdout = session.stdout
    for phase in PHASES:
        name = phase.lower()
        instance = session.instance(name)["instance"]
        lifecycle = session.lifecycle(name)
        assert lifecycle["verdict"] == "fail"
        summary = lifecycle["summary"]
        assert summary.endswith(f"broke in {phase}: see runbook"), summary
        [toil] = session.toil(name)
        if flavour == "real" and phase in STUCK_IN:
            # Stuck, not Failed: the harness fails it at once, naming the target.
            stuck = STUCK_IN[phase]
            # A cluster refused at once can be seen on its claim before the operator has
            # moved the experiment to Provisioning: the harness fails it where it is.
            where = f"(Pending|{stuck})" if phase == "Pending" else stuck
            assert re.fullmatch(
                rf"\[FAIL\] Experiment {instance} stuck in {where}: target app Failed \(.*",
                summary,
            ), summary
            assert re.match(rf"Target app failed, {instance} stuck in {where} - ", toil["title"])
            assert toil["labels"] == ["toil", name, STUCK_LABEL[stuck]]
            assert lifecycle["figures"]["stuckTarget"] == "app"
        else:
            assert summary.startswith(f"[FAIL] Experiment {instance} failed in {phase}: "), summary
            assert toil["title"].startswith(f"Experiment failed: {instance} - ")
            assert toil["labels"] == ["toil", name, FAILURE_LABEL[phase]]
            if flavour == "legacy":
                assert any(
                    line.startswith("  Failed=True") and f"broke in {phase}" in line
                    for line in lifecycle["details"]
                ), lifecycle["details"]
            else:
                # No condition says why: the reason is read from the Argo Workflow's
                # failed step (Argo's own message only names a node).
                assert (
                    f"failed in Running: workflow {instance}-validation Failed at step "
                    "validate-results: " in summary
                ), summary
        assert_diagnostics(lifecycle["details"], instance)
        # The failure text a user reads carries the diagnostics too.
        assert f"diagnostics for {instance}:" in stdout
        assert toil["title"].endswith(f"broke in {phase}: see runbook")
        assert toil["priority"] == 2
        assert session.cleanup(name)["action"] == "kept"
        assert session.cleanup(name)["command"] == (
            f"kubectl delete experiment {instance} -n {NAMESPACE}"
        )
        assert f"; delete with: kubectl delete experiment {instance} -n {NAMESPACE}" in stdout
        assert exists(k8s, instance), "on-success keeps a failed instance for inspection"
        # Later steps are not run on a failed lifecycle.
        assert all(c["verdict"] == "n-a" for c in session.instance(name)["checks"])
    assert len(session.toil_file()) == 4
    for item in managed(k8s, prefix):
        Run(api=k8s, name=item["metadata"]["name"]).delete()


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_a_failed_reason_is_in_the_junit_failure(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, no_bd: None, flavour: str,
) -> None:  # fmt: skip
    scenario(prefix, "fail-ready", message="Application kv-store degraded", operator=flavour)
    write(pytester, "degraded", experiment_doc(prefix))
    session = run_live(pytester, sandbox, "--junitxml=report.xml", "--experiment-cleanup=always")
    junit = (pytester.path / "report.xml").read_text()
    instance = session.instance("degraded")["instance"]
    said = "stuck in Ready: target app Failed" if flavour == "real" else "failed in Ready"
    assert said in junit
    assert "Application kv-store degraded" in junit
    assert f"diagnostics for {instance}:" in junit
    assert session.cleanup("degraded")["action"] == "deleted"
    assert session.cleanup("degraded")["reason"] == "--experiment-cleanup=always"


# -- stuck in each phase × --experiment-on-timeout -------------------------------------


BUDGET = "2s"


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
@pytest.mark.parametrize("action", ["fail", "extend", "abort"])
def test_stuck_in_each_phase_under_each_timeout_action(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None, action: str,
    flavour: str,
) -> None:  # fmt: skip
    prefixes = phase_prefixes(prefix)
    for phase, generate_name in prefixes.items():
        scenario(generate_name, f"stuck-{phase.lower()}", operator=flavour)
        write(pytester, phase.lower(), experiment_doc(generate_name))
    budgets = [f"--experiment-budget-{p.lower()}={BUDGET}" for p in PHASES]
    session = run_live(
        pytester, sandbox, f"--experiment-on-timeout={action}", "--experiment-max-extensions=1",
        *budgets,
    )  # fmt: skip
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    for phase in PHASES:
        name = phase.lower()
        instance = session.instance(name)["instance"]
        lifecycle = session.lifecycle(name)
        assert lifecycle["verdict"] == "fail"
        summary = lifecycle["summary"]
        assert summary.startswith(
            f"[FAIL] {phase} timeout (2s) for {instance}: still {phase} after "
        )
        assert_diagnostics(lifecycle["details"], instance)
        [toil] = session.toil(name)  # once per phase, however often it was extended
        assert toil["title"] == f"{phase} timeout (2s) for {instance}"
        assert toil["priority"] == 2
        assert toil["labels"] == ["toil", name, "timing", TIMEOUT_LABEL[phase]]
        cleanup = session.cleanup(name)
        if action == "extend":
            assert f"{instance}: {phase} outlived its budget of 2s; extending (1/1)" in (
                session.stdout
            )
            assert summary.endswith("(1 extension)")
            elapsed = float(summary.split(" after ")[1].split("s")[0])
            assert elapsed >= 4.0, "the extension doubled the budget"
        else:
            assert "extending" not in session.stdout
        if action == "abort":
            assert summary.endswith("; aborted: instance deleted")
            assert cleanup["action"] == "deleted", cleanup
            wait_gone(k8s, instance)
        else:
            assert cleanup["action"] == "kept"
            assert cleanup["reason"].startswith(f"lifecycle FAIL: [FAIL] {phase} timeout")
            assert exists(k8s, instance)
            Run(api=k8s, name=instance).delete()


# -- pre-flight: operator and WorkflowTemplate ------------------------------------------


@pytest.fixture
def operator_down(k8s: client.ApiClient, prefix: str, scenario: SetScenario) -> Iterator[str]:
    """The operator Deployment reports no ready replica (and ignores ``prefix`` instances)."""
    key = f"{prefix}down-"
    scenario(key, "operator-down")
    yield key
    from pytest_experiment.sandbox.scenarios import clear_scenario

    clear_scenario(k8s, key)
    # Readiness returns when the operator sees the change; later tests expect it
    # healthy. Watch the Deployment itself: nothing else changes meanwhile.
    deployments = client.AppsV1Api(k8s)
    wait_until(
        lambda **kw: deployments.list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
        lambda objects: any(
            ((o.get("status") or {}).get("readyReplicas") or 0) >= 1 for o in objects.values()
        ),
        timeout=TIMEOUT,
        what="the operator to report a ready replica again",
        field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
    )


def test_operator_not_ready_warns_and_the_run_continues(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, operator_down: str, no_bd: None,
) -> None:  # fmt: skip
    # A healthy experiment still runs: the operator's reconciles go on, only its
    # Deployment's readiness is down.
    write(pytester, "healthy", experiment_doc(prefix))
    session = run_live(pytester, sandbox)
    operator = session.preflight("healthy", "operator")
    assert operator["verdict"] == "warn"
    assert operator["summary"] == "[WARN] Operator unhealthy (0 ready replicas); the run continues"
    session.result.stdout.fnmatch_lines(["*::preflight?operator? XFAIL*"])
    assert session.lifecycle("healthy")["verdict"] == "pass"
    [toil] = session.toil("healthy")
    assert toil["title"] == "Operator unhealthy at experiment start: healthy"
    assert toil["priority"] == 1
    assert toil["labels"] == ["toil", "healthy", "operator"]
    assert session.result.ret == pytest.ExitCode.OK


def test_missing_template_without_a_local_file_fails_preflight_and_applies_nothing(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    no_bd: None,
) -> None:  # fmt: skip
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = f"{prefix}absent"
    write(pytester, "notemplate", doc)
    session = run_live(pytester, sandbox, "--experiment-apply-templates", "-rs")
    check = session.preflight("notemplate", "workflow-template")
    assert check["verdict"] == "fail"
    # Why it blocks: the real operator would not fail, it would test nothing.
    assert check["summary"] == (
        f"[FAIL] WorkflowTemplate {prefix}absent not found in argo-workflows and there is no "
        "experiments/notemplate/workflow/template.yaml to apply; without it the operator runs "
        "an empty inline workflow and reports Complete having tested nothing"
    )
    session.result.stdout.fnmatch_lines(
        ["SKIPPED *[[]N/A[]] blocked by notemplate::preflight[[]workflow-template[]]*"]
    )
    # Nothing was launched: the only record is the unnamed placeholder saying why.
    [placeholder] = session.experiment("notemplate")["instances"]
    assert placeholder["instance"] == ""
    assert placeholder["lifecycle"]["summary"] == (
        "[N/A] blocked by notemplate::preflight[workflow-template]"
    )
    assert managed(k8s, prefix) == []
    [toil] = session.toil("notemplate")
    assert toil["title"] == f"Missing WorkflowTemplate: {prefix}absent for notemplate"
    assert toil["labels"] == ["toil", "notemplate", "workflow", "config"]
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED


def test_missing_template_with_a_local_file_names_the_command_without_the_flag(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    no_bd: None,
) -> None:  # fmt: skip
    template = f"{prefix}local"
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = template
    write(pytester, "local", doc, template=template)
    session = run_live(pytester, sandbox)
    check = session.preflight("local", "workflow-template")
    assert check["verdict"] == "fail"
    command = "kubectl apply -n argo-workflows -f experiments/local/workflow/template.yaml"
    assert check["figures"]["command"] == command
    assert f"apply it with: {command} (or pass --experiment-apply-templates)" in check["summary"]
    assert check["summary"].endswith("reports Complete having tested nothing")
    assert managed(k8s, prefix) == []
    assert not template_exists(k8s, template), "nothing is applied without the flag"
    documented(
        "The WorkflowTemplate is not on the cluster",
        check["summary"]
        .replace(template, "web-latency-validation")
        .replace("experiments/local/", "experiments/web-latency/"),
    )


def test_apply_templates_applies_the_local_file_and_the_run_passes(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str,
    no_bd: None,
) -> None:  # fmt: skip
    template = f"{prefix}applied"
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = template
    write(pytester, "applied", doc, template=template)
    session = run_live(pytester, sandbox, "--experiment-apply-templates")
    check = session.preflight("applied", "workflow-template")
    assert check["summary"] == (
        f"[PASS] WorkflowTemplate {template} applied from "
        "experiments/applied/workflow/template.yaml"
    )
    assert template_exists(k8s, template)
    assert session.lifecycle("applied")["verdict"] == "pass"
    assert session.result.ret == pytest.ExitCode.OK


def template_exists(k8s: client.ApiClient, name: str) -> bool:
    items, _ = list_raw(
        custom_lister(k8s, WORKFLOW_TEMPLATES, namespace="argo-workflows"),
        field_selector=f"metadata.name={name}",
    )
    return bool(items)


# -- manual completion, attach, cleanup policies ------------------------------------------


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_manual_completion_passes_when_the_user_deletes_it_while_running(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None, flavour: str,
) -> None:  # fmt: skip
    scenario(prefix, "happy", operator=flavour)
    write(pytester, "manual", experiment_doc(prefix, mode="manual"))
    user = DeleteWhenRunning(k8s, prefix, quiet=True)
    session = run_live(pytester, sandbox)
    deleted = user.join()
    instance = session.instance("manual")["instance"]
    assert deleted == [instance]
    session.result.stdout.fnmatch_lines(
        [
            f"{instance}: Running",
            "  This is a manual-completion experiment. It will stay Running until you delete it.",
            f"  Use: kubectl delete experiment {instance} -n {NAMESPACE}",
        ]
    )
    lifecycle = session.lifecycle("manual")
    assert lifecycle["verdict"] == "pass"
    assert lifecycle["summary"].startswith(f"[PASS] Experiment {instance} ended by deletion after ")
    assert lifecycle["summary"].endswith("(manual completion)")
    # A person deleted it: the session found it gone.
    assert session.cleanup("manual")["action"] == "gone", session.cleanup("manual")


@pytest.mark.parametrize("flavour", OPERATOR_FLAVOURS)
def test_manual_completion_is_ended_by_the_running_budget(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None, flavour: str,
) -> None:  # fmt: skip
    scenario(prefix, "happy", operator=flavour)
    write(pytester, "manual", experiment_doc(prefix, mode="manual"))
    session = run_live(pytester, sandbox, "--experiment-budget-running=2s")
    assert session.result.ret == pytest.ExitCode.OK, session.stdout
    instance = session.instance("manual")["instance"]
    lifecycle = session.lifecycle("manual")
    assert lifecycle["verdict"] == "pass"
    assert lifecycle["summary"].startswith(
        f"[PASS] Experiment {instance} ended by --experiment-budget-running (2s): deleted after "
    )
    # The workflow finished and the experiment stayed Running: only a deletion ends it.
    assert lifecycle["summary"].endswith("Running (manual completion; workflow Succeeded)")
    assert lifecycle["figures"]["endedBy"] == "budget"
    assert session.toil("manual") == []
    # The run deleted it, and says so once the object is gone.
    assert session.cleanup("manual")["action"] == "deleted", session.cleanup("manual")
    wait_gone(k8s, instance)


def test_an_instance_deleted_by_someone_else_fails_the_workflow_mode_run(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None,
) -> None:  # fmt: skip
    scenario(prefix, "stuck-running")
    write(pytester, "vanished", experiment_doc(prefix))

    deleter = DeleteWhenRunning(k8s, prefix)
    session = run_live(pytester, sandbox)
    deleter.join()
    instance = session.instance("vanished")["instance"]
    lifecycle = session.lifecycle("vanished")
    assert lifecycle["summary"] == (
        f"[FAIL] Experiment {instance} was deleted while Running, before it finished"
    )
    [toil] = session.toil("vanished")
    assert toil["title"] == f"Experiment deleted while Running: {instance}"


def test_attach_follows_an_existing_instance_and_leaves_it(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, no_bd: None,
) -> None:  # fmt: skip
    existing = Run.create(k8s, experiment_doc(prefix))
    write(pytester, "attached", experiment_doc(prefix))
    session = run_live(pytester, sandbox, f"--experiment-instance=attached={existing.name}")
    assert session.result.ret == pytest.ExitCode.OK
    session.result.stdout.fnmatch_lines(
        [f"Attached to experiment: {existing.name} (for attached)", f"  left {existing.name} *"]
    )
    assert "Applied experiment" not in session.stdout
    assert session.instance("attached")["instance"] == existing.name
    assert session.lifecycle("attached")["verdict"] == "pass"
    assert session.cleanup("attached")["action"] == "left"
    assert [i["metadata"]["name"] for i in managed(k8s, prefix)] == [existing.name]
    existing.delete()


def test_attach_to_an_unknown_instance_fails_clearly(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, no_bd: None,
) -> None:  # fmt: skip
    write(pytester, "attached", experiment_doc(prefix))
    session = run_live(pytester, sandbox, f"--experiment-instance=attached={prefix}nope")
    lifecycle = session.experiment("attached")
    text = session.stdout
    assert f"--experiment-instance attached={prefix}nope" in text
    assert managed(k8s, prefix) == []
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    assert lifecycle["name"] == "attached"


@pytest.mark.parametrize(
    ("policy", "scenario_name", "action"),
    [
        ("always", "fail-running", "deleted"),
        ("never", "happy", "kept"),
        ("on-success", "happy", "deleted"),
        ("on-success", "fail-running", "kept"),
    ],
)
def test_cleanup_policies(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None,
    policy: str, scenario_name: str, action: str,
) -> None:  # fmt: skip
    scenario(prefix, scenario_name)
    write(pytester, "policy", experiment_doc(prefix))
    session = run_live(pytester, sandbox, f"--experiment-cleanup={policy}")
    instance = session.instance("policy")["instance"]
    cleanup = session.cleanup("policy")
    assert cleanup["action"] == action
    assert f"  {action} {instance} (policy): " in session.stdout
    if action == "deleted":
        wait_gone(k8s, instance)
        assert cleanup["command"] == ""
    else:
        assert exists(k8s, instance)
        assert cleanup["command"] == f"kubectl delete experiment {instance} -n {NAMESPACE}"
        Run(api=k8s, name=instance).delete()


# -- toil through bd ---------------------------------------------------------------------


def test_toil_reaches_bd_as_arguments_and_syncs_once(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, fake_tools: FakeTools,
) -> None:  # fmt: skip
    first, second = f"{prefix}a-", f"{prefix}b-"
    scenario(first, "fail-running", message=HOSTILE)
    scenario(second, "fail-provisioning", message="quota")
    write(pytester, "hostile", experiment_doc(first))
    write(pytester, "quota", experiment_doc(second))
    session = run_live(pytester, sandbox, "--experiment-cleanup=always")
    instance = session.instance("hostile")["instance"]
    creates = [argv for argv in fake_tools.calls("bd") if argv[:1] == ["create"]]
    # The sandbox operator wraps the scenario message in its own condition text.
    [hostile] = [a for a in creates if a[1].startswith(f"--title=Experiment failed: {instance} - ")]
    assert hostile[1].endswith(HOSTILE)
    assert hostile[2:] == ["--type=bug", "--priority=2", "-l", "toil", "-l", "hostile",
                           "-l", "workflow"]  # fmt: skip
    assert fake_tools.calls("bd").count(["sync"]) == 1
    assert fake_tools.calls("bd")[-1] == ["sync"]
    assert not (pytester.path / "pwned").exists()
    assert {t["backend"] for t in session.report["toil"]} == {"bd"}
    assert session.toil_file() == []
    session.result.stdout.fnmatch_lines(
        [
            "Toil logged: 1 issue(s) — run bd list -l hostile to review",
            "Toil logged: 1 issue(s) — run bd list -l quota to review",
        ]
    )


def test_toil_falls_back_to_json_lines_without_bd(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    scenario: SetScenario, no_bd: None,
) -> None:  # fmt: skip
    scenario(prefix, "fail-ready", message=HOSTILE)
    write(pytester, "hostile", experiment_doc(prefix))
    session = run_live(pytester, sandbox, "--experiment-cleanup=always")
    instance = session.instance("hostile")["instance"]
    [record] = session.toil_file()
    assert f" {instance} " in record["title"]
    assert record["title"].endswith(HOSTILE)
    assert record["labels"] == ["toil", "hostile", "argocd"]
    assert record["priority"] == 2
    assert record["type"] == "bug"
    session.result.stdout.fnmatch_lines(
        [
            "Toil logged: 1 issue(s) — run bd list -l hostile to review "
            f"(in {pytester.path / '.experiment-toil.jsonl'})"
        ]
    )
