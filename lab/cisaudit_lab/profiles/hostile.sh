# hostile: a host that carries secrets in every place a Docker engine lets them sit, and
# text built to break whatever prints it (terminal markup, HTML, templates, spreadsheet
# formulas). The audit must report on it like any other host while no secret value
# reaches results, evidence or reports (tests/test_hostile_lab.py greps every output for
# each value below; keep them unique and one per line, as SECRET_NAME='value').
SECRET_ENV_BY_NAME='envname-Hx7q'
SECRET_SHORT_PW='rootpw-Kq2w'
SECRET_URL_PASSWORD='urlpass-Zm4e'
SECRET_GITHUB='ghp_R8sT2vWx9yZa1bC3dE5fG7hJ9kL0mN2pQ4rS'
SECRET_AWS_ID='AKIAQW3RT7YU2IOP4ASD'
SECRET_JWT='eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWItaG9zdGlsZSJ9.c2lnbmF0dXJlLW9mLXRoZS1sYWI'
SECRET_ENTROPY='kD8f93jfLQ0vX72mZp1qRw'
SECRET_LABEL='labeltok-Pq9r'
SECRET_ARG_PASSWORD='argpw-Lm3t'
SECRET_ARG_P='argp-Ty6y'
SECRET_ARG_TOKEN='argtok-Wd8u'
SECRET_HEALTH='healthpw-Sd4i'
SECRET_HISTORY_ENV='histenv-Bn5o'
SECRET_HISTORY_ARG='histarg-Cv1p'
SECRET_HISTORY_RUN='histrun-Xz0a'
SECRET_HISTORY_LABEL='histlabel-Qw2s'
SECRET_IMAGE_URL='imgurl-Er6d'
SECRET_DAEMON_JSON='daemonjson-Rt5g'
SECRET_HOST_ENV='hostenv-Yu7h'
SECRET_CONTAINERD='containerd-Io9j'
SECRET_UNIT='unittok-Pa1k'
# Text that must be printed literally and escaped everywhere.
MARKUP='[/red][blink]hidden[/blink] <script>alert(1)</script> {{ 7*7 }} ${jndi:ldap://x} =1+2'

. "$LAB_DIR/_rules.sh"
printf '%s\n' "$DOCKER_WATCH_RULES" | write_audit_rules

# The host's own description of itself carries markup (reports print the OS name).
sed -i "s|^PRETTY_NAME=.*|PRETTY_NAME=\"Debian $MARKUP\"|" /etc/os-release

# Secrets in files the probe reads: the environment, containerd's registry login, the
# docker unit's command line, daemon.json's labels (dockerd refuses a password in a
# registry mirror's URL, and a label given both as a flag and in daemon.json).
printf 'AWS_SECRET_ACCESS_KEY=%s\nDOCKER_CONTENT_TRUST=1\n' "$SECRET_HOST_ENV" > /etc/environment
mkdir -p /etc/containerd
cat > /etc/containerd/config.toml <<TOML
version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.internal:5000".auth]
  username = "puller"
  password = "$SECRET_CONTAINERD"
TOML
set_file /lib/systemd/system/docker.service root:root 0644 "[Service]
ExecStart=/usr/sbin/dockerd -H fd:// --label deploy_token=$SECRET_UNIT"
set_file /etc/docker/daemon.json root:root 0644 "{\"labels\": [\"secret_token=$SECRET_DAEMON_JSON\", \"note=$MARKUP\"], \"icc\": false}"

busybox syslogd
start_dockerd

# An image whose history holds secrets in ENV, build ARGs used by RUN, RUN arguments and
# LABELs (the classic builder records each step's command in the history).
import_base lab/base:import
ctx=$(new_context)
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM lab/base:import
ENV DB_PASSWORD=$SECRET_HISTORY_ENV
ENV UPSTREAM_URL=https://mirror:$SECRET_IMAGE_URL@mirror.example/x
ARG BUILD_TOKEN
RUN echo "building with \$BUILD_TOKEN" > /dev/null && echo --password=$SECRET_HISTORY_RUN > /dev/null
LABEL secret_key="$SECRET_HISTORY_LABEL" ui.note="[/red][blink]x <script>alert(1)</script> {{ 7*7 }} =1+2"
COPY serve.sh /usr/local/bin/serve.sh
CMD ["/usr/local/bin/serve.sh"]
DOCKERFILE
docker build -q --build-arg "BUILD_TOKEN=$SECRET_HISTORY_ARG" -t lab/hostile:1 "$ctx" > /dev/null
docker rmi lab/base:import > /dev/null

# A container with secrets in its environment (by name and by value shape), labels,
# command line and health check; label keys and values with markup and formulas.
docker run -d --name h-secrets \
    -e "DB_PASSWORD=$SECRET_ENV_BY_NAME" \
    -e "MYSQL_ROOT_PW=$SECRET_SHORT_PW" \
    -e "DATABASE_URL=postgres://app:$SECRET_URL_PASSWORD@db.internal/app" \
    -e "CI_THING=$SECRET_GITHUB" \
    -e "UPLOAD_ID=$SECRET_AWS_ID" \
    -e "SESSION_BLOB=$SECRET_JWT" \
    -e "SEED=$SECRET_ENTROPY" \
    -e "MODE=production" \
    -e "[/red]=markup-in-a-variable-name" \
    --label "api_token=$SECRET_LABEL" \
    --label "ui.title=$MARKUP" \
    --label "-1+cmd|calc!A0=@SUM(1)" \
    --health-cmd "wget -q -O- http://admin:$SECRET_HEALTH@127.0.0.1:8080/ || exit 1" \
    --health-interval 30s \
    lab/hostile:1 /usr/local/bin/serve.sh --password="$SECRET_ARG_PASSWORD" \
        -p "$SECRET_ARG_P" --token "$SECRET_ARG_TOKEN" > /dev/null
