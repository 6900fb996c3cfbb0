# syntax=docker/dockerfile:1
# M2M Connector image (m2m-connector): build with the .NET SDK, run on the ASP.NET runtime as a
# non-root user. Build: docker build -t m2m-connector:v2.0.0 .
# Run:   docker run -p 8080:8080 -p 3000:3000 -v m2m-data:/app/data --env-file .env m2m-connector:v2.0.0

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first (cached while only sources change).
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/ src/
RUN dotnet restore src/M2M.Cli/M2M.Cli.csproj
RUN dotnet publish src/M2M.Cli/M2M.Cli.csproj -c Release --no-restore -o /app/bin --nologo

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
LABEL org.opencontainers.image.title="m2m-connector" \
      org.opencontainers.image.description="M2M Connector: an Interledger (ILPv4) connector for machine-to-machine payments"
WORKDIR /app
COPY --from=build /app/bin /app/bin
COPY examples/production-single-node.yaml /app/config/config.yaml
# The ledger, settlement and wallet stores live in /app/data (mount a volume there); owned by the
# image's non-root user (APP_UID, 1654 in the official .NET images).
RUN mkdir -p /app/data/wallet && chown -R "$APP_UID" /app/data
ENV PATH="/app/bin:${PATH}" \
    CONFIG_FILE=/app/config/config.yaml \
    LEDGER_PATH=/app/data/ledger.db \
    WALLET_DB_PATH=/app/data/wallet/agent-wallets.db \
    HEALTH_CHECK_PORT=8080 \
    BIND_ADDRESS=0.0.0.0 \
    BTP_SERVER_PORT=3000 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
USER $APP_UID
VOLUME ["/app/data"]
EXPOSE 8080 3000
# /health answers 200 for healthy and degraded; `m2m-connector health` exits 0 healthy, 2 degraded,
# 1 otherwise, so only 1 marks the container unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD m2m-connector health --url "http://127.0.0.1:${HEALTH_CHECK_PORT}/health" > /dev/null; [ $? -ne 1 ]
# SIGTERM drains (no new Prepares, in-flight packets and pending settlements finish) and exits 0;
# give it the drain timeout (35 s by default) in the stop grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["m2m-connector"]
CMD ["run"]
