"""deploy/: the docker-compose file and the Kubernetes manifests agree with the code: they parse,
run the Procfile's commands, listen and probe where the settings say, let running stages finish
on shutdown, and scale what KEDA scales. The check they probe with: tests/test_healthcheck.py."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from workers.pipeline import QUEUES
from workers.processes import PROCESS_TYPES
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DEFAULTS = Settings()
PORT = DEFAULTS.serve_port
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
HEALTHCHECK = ["python", "-m", "workers.healthcheck"]
# Arguments a manifest may add to a Procfile line: a prefork pool sized to the pod, not the node.
ALLOWED_EXTRA = (["--concurrency", "1"],)
# The HTTP process (`newsflow serve`), by its Procfile name.
[WEB] = [n for n, line in PROCESS_TYPES.items() if line.startswith("newsflow serve")]
STAGE_TYPES = {n: line for n, line in PROCESS_TYPES.items() if n != WEB}


def procfile_argv(name: str) -> list[str]:
    return shlex.split(PROCESS_TYPES[name])


def is_worker(argv: list[str]) -> bool:
    return argv[:2] == ["newsflow", "worker"]


def runs_procfile_line(name: str, command: list[str]) -> bool:
    """`command` is the Procfile's line for `name`, plus at most one allowed addition."""
    expected = procfile_argv(name)
    extra = command[len(expected) :]
    return command[: len(expected)] == expected and (not extra or extra in ALLOWED_EXTRA)


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def deployments() -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in manifests()
        if d["kind"] == "Deployment"
    }


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


# --- docker compose ---------------------------------------------------------------------------


def test_compose_runs_each_procfile_process_type_as_a_scalable_service() -> None:
    services = compose()["services"]
    assert set(services) == {*PROCESS_TYPES, "redis", "postgres"}
    for name in STAGE_TYPES:
        service = services[name]
        assert service["command"] == procfile_argv(name), name
        # `docker compose up --scale NAME=3` needs no fixed container name or host port.
        assert "container_name" not in service, name
        assert "ports" not in service, name
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["environment"]["NEWSFLOW_LOG_FORMAT"] == "json"


def test_compose_gives_running_stages_time_to_finish() -> None:
    services = compose()["services"]
    for name in STAGE_TYPES:
        if is_worker(procfile_argv(name)):
            grace = services[name]["stop_grace_period"]
            assert int(grace.removesuffix("s")) > DEFAULTS.task_time_limit, name
            assert services[name]["healthcheck"]["test"][1:4] == HEALTHCHECK, name


def test_the_image_serves_on_every_address_of_the_default_port() -> None:
    """Compose and Kubernetes run `newsflow serve` as the Procfile says; the image makes it
    listen where they publish and probe it."""
    assert "NEWSFLOW_SERVE_HOST=0.0.0.0" in DOCKERFILE
    assert f"NEWSFLOW_SERVE_PORT={PORT}" in DOCKERFILE
    assert f"EXPOSE {PORT}" in DOCKERFILE


def test_the_image_checks_its_health_with_the_check_deploy_probes_with() -> None:
    assert f"CMD {json.dumps(HEALTHCHECK)}" in DOCKERFILE


def test_compose_web_publishes_the_serve_port() -> None:
    web = compose()["services"][WEB]
    assert web["command"] == procfile_argv(WEB)
    assert web["ports"] == [f"{PORT}:{PORT}"]


# --- Kubernetes -------------------------------------------------------------------------------


def test_a_deployment_per_process_type_running_its_procfile_line() -> None:
    found = deployments()
    assert set(found) == set(PROCESS_TYPES)
    for name in STAGE_TYPES:
        command = container(found[name])["command"]
        assert runs_procfile_line(name, command), (name, command)
        if len(command) > len(procfile_argv(name)):  # a pool size the Procfile left open
            assert "--concurrency" not in procfile_argv(name), name
    assert container(found[WEB])["command"] == procfile_argv(WEB)


def test_every_deployment_uses_the_one_image_and_the_shared_settings() -> None:
    for name, deployment in deployments().items():
        spec = container(deployment)
        assert spec["image"] == "newsflow", name
        sources = {next(iter(s.values()))["name"] for s in spec["envFrom"]}
        assert sources == {"newsflow"}, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"] == labels, name


def test_workers_are_probed_by_their_heartbeat_and_outlive_the_task_time_limit() -> None:
    for name, deployment in deployments().items():
        if name == WEB:
            continue
        spec = container(deployment)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert spec[probe]["exec"]["command"][:3] == HEALTHCHECK, (name, probe)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        if is_worker(procfile_argv(name)):
            assert grace > DEFAULTS.task_time_limit, name


def test_web_is_probed_on_healthz_and_readyz_behind_its_service() -> None:
    web = deployments()[WEB]
    spec = container(web)
    [port] = spec["ports"]
    assert port == {"name": "http", "containerPort": PORT}
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(PORT)
    [service] = [d for d in manifests() if d["kind"] == "Service"]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": PORT, "targetPort": "http"}]


def test_keda_scales_clean_on_its_redis_list() -> None:
    [scaled] = [d for d in manifests() if d["kind"] == "ScaledObject"]
    target = scaled["spec"]["scaleTargetRef"]["name"]
    assert target == deployments()["clean"]["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "clean"
    assert trigger["metadata"]["listName"] in QUEUES
    assert int(trigger["metadata"]["listLength"]) > 0
    # The address comes from the container's environment: the shared ConfigMap has it.
    [config] = [d for d in manifests() if d["kind"] == "ConfigMap"]
    assert trigger["metadata"]["addressFromEnv"] in config["data"]


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text("utf-8"))
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert set(kustomization["resources"]) == files - {"kustomization.yaml", "secret.example.yaml"}
