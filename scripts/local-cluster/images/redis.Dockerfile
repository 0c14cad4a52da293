# Redis for the local cluster: Debian's redis-server 7.0 on the local Debian base (the official
# `redis` image cannot be pulled there). The chart runs `redis-server /etc/redis/redis.conf`.
FROM sw-debian:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* && redis-server --version
USER 999:999
EXPOSE 6379
CMD ["redis-server"]
