# Dockerfile - Loopgate as a container image: the Debian package on
# debian:bookworm-slim, run as the unprivileged user loopgate.
#
#   make docker-build              make deb, then: docker build -t loopgate:latest .
#                                  (podman build when there is no docker)
#   docker run -e TELEGRAM_BOT_TOKEN=... loopgate:latest
#
# The build context holds only what .dockerignore lets through: the package
# that `make deb` built (staged by make docker-build as
# build/docker/loopgate.deb: a bare `docker build .` needs it there), the
# scripts of docker/ and the local stack's script and nginx template. The
# image runs in one of two ways (docker/entrypoint.sh):
#
#   without DB_URI  a self-contained stack, as `make run` has it: a private
#                   PostgreSQL cluster in the volume /var/lib/loopgate, the
#                   workers, and nginx on port $SERVER_PORT (8080) of every
#                   address of the container over plain HTTP. Keys are
#                   required (LOOPGATE_AUTH=off is refused unless
#                   LOOPGATE_INSECURE_NO_AUTH=1 is given too); the start
#                   prints no key and no console link into the container's
#                   log, but the commands that make them:
#                     docker exec <container> loopgate apikey create --name me --tenant default
#                     docker exec <container> loopgate-entrypoint link
#                   For trying Loopgate out (-p 127.0.0.1:8080:8080).
#   with DB_URI     production: `loopgate migrate`, then `loopgate serve` alone
#                   on the FastCGI socket /run/loopgate/loopgate.sock (a volume
#                   that nginx shares, one per serve container) or on
#                   LOOPGATE_SOCKET=host:port; keys required. compose.yaml
#                   shows it with PostgreSQL and nginx (the same image run as
#                   `nginx`).
#
# Configuration is the environment, with the seed's names (TELEGRAM_BOT_TOKEN,
# SERVER_PORT, LOG_LEVEL, REQUEST_TIMEOUT, MAX_CONCURRENT_REQUESTS, DB_ADAPTER,
# DB_URI) and every other key of `loopgate serve --help`, over a config file
# mounted at /etc/loopgate/loopgate.conf if you mount one. The package's
# config and secrets file are removed: the environment is the configuration
# here, and the stack's `docker exec` commands then find the stack's own
# config ($LOOPGATE_VAR/loopgate.conf). docs/DEPLOYMENT.md, "The container
# image", has the rest.
FROM debian:bookworm-slim

ARG DEBIAN_FRONTEND=noninteractive

# A fixed id, so that a volume keeps its owner from one image to the next;
# made before the package, whose maintainer scripts then find it.
RUN groupadd --system --gid 990 loopgate \
 && useradd --system --uid 990 --gid loopgate --home-dir /var/lib/loopgate \
            --no-create-home --shell /usr/sbin/nologin loopgate

COPY build/docker/loopgate.deb /tmp/loopgate.deb

# PostgreSQL and nginx for the self-contained stack (no default cluster: the
# stack makes its own in the volume); curl for the health check over HTTP
# (over FastCGI it is perl-base's); tini reaps and forwards signals as PID 1.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/loopgate.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends /tmp/loopgate.deb \
        postgresql nginx curl tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/loopgate.deb \
 && rm -f /etc/nginx/sites-enabled/default /etc/loopgate/loopgate.conf /etc/loopgate/secrets.env

# The local stack (src/stack.sh) under /usr/share/loopgate/stack, laid out as
# in a checkout; its nginx listens on every address of the container, not
# only on loopback (a published port reaches the container's address), which
# is why keys are required here.
COPY src/stack.sh /usr/share/loopgate/stack/src/stack.sh
COPY nginx/loopgate-local.conf.in nginx/loopgate-errors.conf nginx/loopgate-fastcgi.conf \
     /usr/share/loopgate/stack/nginx/
COPY docker/entrypoint.sh /usr/local/bin/loopgate-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/loopgate-healthcheck
RUN sed -i 's|^\( *listen \)127\.0\.0\.1:@PORT@;|\1@PORT@;|' /usr/share/loopgate/stack/nginx/loopgate-local.conf.in \
 && grep -q '^ *listen @PORT@;' /usr/share/loopgate/stack/nginx/loopgate-local.conf.in \
 && ln -s /usr/share/loopgate/www /usr/share/loopgate/stack/www \
 && mkdir -p /var/lib/loopgate /run/loopgate \
 && chown loopgate:loopgate /var/lib/loopgate /run/loopgate \
 && chmod 0750 /var/lib/loopgate \
 && chmod 0755 /usr/local/bin/loopgate-entrypoint /usr/local/bin/loopgate-healthcheck

ENV LOOPGATE_VAR=/var/lib/loopgate \
    LOOPGATE_BIN=/usr/bin/loopgate \
    LOOPGATE_SECRETS_FILE="" \
    SERVER_PORT=8080

USER loopgate
WORKDIR /var/lib/loopgate
VOLUME ["/var/lib/loopgate", "/run/loopgate"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/loopgate-healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/loopgate-entrypoint"]
CMD ["auto"]
