"""The cluster path, checked without a cluster.

Owns the Argo WorkflowTemplate written with Hera (``workflow``) and the manifest checks that
run offline: kustomize rendering (``render``), schema validation (``validate``), container
commands parsed by the real CLIs (``commands``), credential-looking literals
(``credentials``), the workflow's steps run locally (``local_run``), and the command that
runs them all (``check``).

These modules use the development tools (Hera, kubernetes-validate, jsonschema, kubectl);
nothing the service or the CLI imports at run time lives here.
"""
