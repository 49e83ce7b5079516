#!/usr/bin/env bash
# `make cluster-e2e`: the cluster-sim scenario on a real kind cluster.
#
# Creates a kind cluster, builds and loads the three images, installs Argo Workflows and
# Argo Events at the versions the schemas are pinned to, applies the dev overlay with freshly
# generated Secrets (a temporary copy of deploy/: nothing is written into the checkout),
# waits for the training Job, then runs the shared scenario
# (python -m driftloop_cluster.sim.kind_access). Needs docker, kind and kubectl on PATH.
# KEEP_CLUSTER=1 keeps the cluster afterwards. Written for CI (.github/workflows/cluster-e2e.yml);
# it cannot run on the project's development machines (no Docker engine there).
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER="${CLUSTER:-driftloop-e2e}"
TAG="${TAG:-dev}"
ARGO_WORKFLOWS_VERSION="v4.1.2"   # deploy/schemas/argo-workflows-v4.1.2.schema.json
ARGO_EVENTS_VERSION="v1.9.11"     # deploy/schemas/argo-events-v1.9.11.schema.json
RUN="${RUN:-uv run --frozen}"

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "cluster-e2e: $tool not found" >&2; exit 2; }
done

work="$(mktemp -d)"
cleanup() {
  rm -rf "$work"
  if [ "${KEEP_CLUSTER:-0}" != "1" ]; then kind delete cluster --name "$CLUSTER" || true; fi
}
trap cleanup EXIT

kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER"

echo "== images"
make images TAG="$TAG" PLATFORM="${PLATFORM:-linux/amd64}"
kind load docker-image "driftloop:$TAG" "driftloop-mlserver:$TAG" "driftloop-mlflow:$TAG" \
  --name "$CLUSTER"

echo "== Argo Workflows $ARGO_WORKFLOWS_VERSION, Argo Events $ARGO_EVENTS_VERSION"
kubectl create namespace argo
kubectl apply -n argo --server-side -f \
  "https://github.com/argoproj/argo-workflows/releases/download/$ARGO_WORKFLOWS_VERSION/install.yaml"
kubectl create namespace argo-events
kubectl apply -n argo-events --server-side -f \
  "https://github.com/argoproj/argo-events/releases/download/$ARGO_EVENTS_VERSION/install.yaml"
kubectl -n argo rollout status deploy/workflow-controller --timeout=300s
kubectl -n argo-events rollout status deploy/controller-manager --timeout=300s

echo "== dev overlay (Secrets generated in $work, never in the checkout)"
cp -r deploy "$work/deploy"
rm -f "$work"/deploy/overlays/dev/secrets/*.env
sh "$work/deploy/overlays/dev/make-secrets.sh"
kubectl apply --server-side -k "$work/deploy/overlays/dev"

echo "== wait for the stack"
kubectl -n argo-events wait eventbus/default --for=condition=Deployed --timeout=300s
kubectl -n minio wait job/minio-buckets --for=condition=complete --timeout=600s
kubectl -n argo wait job/driftloop-train --for=condition=complete --timeout=1200s
for target in mlflow/mlflow fastapi/driftloop-api mlserver/mlserver; do
  kubectl -n "${target%/*}" rollout status "deploy/${target#*/}" --timeout=600s
done
# Both API replicas, as the HPA's maximum (the scenario checks that reload reaches each).
kubectl -n fastapi scale deploy/driftloop-api --replicas=2
kubectl -n fastapi rollout status deploy/driftloop-api --timeout=600s
kubectl -n argo-events wait pod -l eventsource-name=drift-webhook --for=condition=Ready --timeout=300s
kubectl -n argo-events wait pod -l sensor-name=drift-retrain --for=condition=Ready --timeout=300s

echo "== scenario"
$RUN python -m driftloop_cluster.sim.kind_access
