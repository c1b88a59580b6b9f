# Sidecar image: HAProxy and the standalone galera-haproxy binary in one container, no Node.js.
# Built by .ci/build-image (which first runs .ci/build-binary to make dist/galera-haproxy):
#   buildah bud --isolation chroot --format docker -t galera-haproxy:dev .
# `--format docker` keeps the HEALTHCHECK: the OCI image format has no field for it.
#
# Run it with the etcd endpoints and the usual flags, e.g.
#   podman run -e ETCDCTL_ENDPOINTS=http://etcd:2379 -p 3306:3306 galera-haproxy:dev --prefix /components/galera
# Arguments go to `galera-haproxy watch`; the first config is rendered with those of them that
# `galera-haproxy render` accepts (haproxy/entrypoint.sh reads both option lists from --help).
FROM debian:bookworm-slim

# socat is only for the HEALTHCHECK below (HAProxy's master CLI is a Unix socket).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy ca-certificates socat \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/haproxy /var/lib/haproxy \
 && chown haproxy:haproxy /etc/haproxy /run/haproxy /var/lib/haproxy \
 && haproxy -v

# The binary carries its default template; this copy is the starting point for a custom one: change a
# copy, mount it or bake it into a derived image, and pass `--template <file>`.
COPY templates/ /usr/local/share/galera-haproxy/templates/
COPY --chmod=0755 haproxy/entrypoint.sh /usr/local/bin/galera-haproxy-entrypoint
COPY --chmod=0755 dist/galera-haproxy /usr/local/bin/galera-haproxy

# HAProxy binds 3306 (above 1024) and galera-haproxy rewrites /etc/haproxy/haproxy.cfg in place
# (temp file + rename in that directory), so neither needs root. galera-haproxy unpacks a few
# small files (template, etcd protocol) under $TMPDIR at start-up: with a read-only root file
# system, mount a tmpfs on /tmp. As a user other than root HAProxy cannot raise its open-file limit,
# so the runtime must grant about 2 x maxconn (8,300 for the default 4096): the docker, podman and
# Kubernetes defaults (1,048,576) do; `buildah run` (1,024) does not.
USER haproxy
WORKDIR /var/lib/haproxy

EXPOSE 3306

# Healthy while the master answers and has at least one worker: `show proc` lists the master, then
# one line per worker (type "worker").
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD echo 'show proc' | socat -t 2 - UNIX-CONNECT:/run/haproxy/master.sock | grep -qE '^[0-9]+[[:space:]]+worker'

ENTRYPOINT ["/usr/local/bin/galera-haproxy-entrypoint"]
