# The local stand-in for an official Node.js image: Debian bookworm (debootstrap, imported as
# sw-debian:bookworm) plus this machine's node and npm. Built by scripts/local-cluster/up.sh; the
# build context holds node, npm's directory and the machine's CA bundle (containers reach the npm
# registry through the same proxy as the host, which has its own certificate authority).
FROM sw-debian:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
