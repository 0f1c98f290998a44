#!/usr/bin/env bash
# build.sh - build the image loopgate:latest (make docker-build).
#
# Stages the package $LOOPGATE_DEB (make docker-build: the one `make deb`
# made) as build/docker/loopgate.deb, the one file of build/ that
# .dockerignore lets into the context. Then builds
# with docker when a docker daemon answers, else with podman (in the docker
# image format: the OCI format has no HEALTHCHECK). LOOPGATE_ENGINE=docker
# or podman chooses; LOOPGATE_IMAGE names the tag (loopgate:latest).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${LOOPGATE_IMAGE:-loopgate:latest}

deb=${LOOPGATE_DEB:-}
[[ -n $deb && -f $deb ]] || { echo "docker/build.sh: no package to install ($deb); make docker-build makes it (or set LOOPGATE_DEB)" >&2; exit 1; }
mkdir -p build/docker
cp -f "$deb" build/docker/loopgate.deb.tmp
mv -f build/docker/loopgate.deb.tmp build/docker/loopgate.deb

engine=${LOOPGATE_ENGINE:-}
if [[ -z $engine ]]; then
    if command -v docker >/dev/null && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null; then
        engine=podman
    else
        echo "docker/build.sh: neither a docker daemon nor podman is here (podman: tests/deps.sh)" >&2
        exit 1
    fi
fi
echo "  IMAGE   $image ($engine, from $deb)" >&2
case $engine in
docker) exec docker build -t "$image" . ;;
podman) exec podman build --format docker -t "$image" . ;;
*) echo "docker/build.sh: LOOPGATE_ENGINE must be docker or podman" >&2; exit 1 ;;
esac
