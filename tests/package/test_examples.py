"""The examples that ship with the repository stay valid: the KubeRay job parses and runs
the command line with the Ray executor."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from captum_interactions.runs.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_kuberay_job_is_a_rayjob_that_runs_the_ray_executor():
    job = yaml.safe_load((EXAMPLES / "kuberay-rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    command = shlex.split(job["spec"]["entrypoint"])
    assert command[0] == "captum-interactions"
    args = build_parser().parse_args(command[1:])  # the command line accepts it
    assert (args.executor, args.ray_address) == ("ray", "auto")
    assert "captum-interactions[hf,ray]" in yaml.safe_load(job["spec"]["runtimeEnvYAML"])["pip"]
    cluster = job["spec"]["rayClusterSpec"]
    mounts = {m["mountPath"] for c in cluster["headGroupSpec"]["template"]["spec"]["containers"]
              for m in c["volumeMounts"]}
    assert {"/study", "/shared"} <= mounts  # the driver reads the study, writes the run
    (gpu,) = cluster["workerGroupSpecs"]
    (worker,) = gpu["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
