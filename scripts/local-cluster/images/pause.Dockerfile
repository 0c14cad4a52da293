# The pod sandbox: Kubernetes' own pause.c, compiled statically by build-kubernetes.sh.
FROM scratch
COPY pause /pause
ENTRYPOINT ["/pause"]
