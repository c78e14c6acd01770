# The app image with a log: it prints its start-up lines (logs/<variant>/out.txt to stdout, err.txt to stderr), then
# serves as the app image it is built from (BASE: drtest/app:2.3.0 is healthy, drtest/app:2.3.1 is not).
ARG BASE
FROM ${BASE}
ARG LOG
COPY ${LOG} /log
CMD ["/bin/sh", "-c", "cat /log/out.txt; cat /log/err.txt >&2; exec httpd -f -p 127.0.0.1:${APP_PORT} -h /www"]
