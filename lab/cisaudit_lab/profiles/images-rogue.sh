# lab-optional: started by tests/lab/test_image_policy_lab.py
# images-rogue: images an image policy refuses, each for a known reason:
# - registry.internal:5000/base/debian:12-golden exists here too, but carries an openssl
#   below the minimum (found in the golden base: rebuild the base) and no agent;
# - registry.internal:5000/team/legacy:1.0 is built on it and adds telnetd in its own
#   RUN layer (an application layer: change that step), and runs as root;
# - docker.io/library/alpine-tools:latest (tagged latest, from a public registry) is built
#   FROM scratch with an apk database holding netcat-openbsd (forbidden) and no agent: an
#   unknown base;
# - a container created from the public image by a reference without a tag.
. "$LAB_DIR/_images.sh"
start_dockerd
import_base lab/base:import
golden_base registry.internal:5000/base/debian:12-golden \
    base-files=12.4+deb12u8 openssl=3.0.11-1~deb12u2 libc6=2.36-9+deb12u9
ctx=$(new_context)
build_image registry.internal:5000/team/legacy:1.0 "$ctx" <<'DOCKERFILE'
FROM registry.internal:5000/base/debian:12-golden
RUN printf 'Package: telnetd\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.17-44\nDescription: lab\n\n' >> /var/lib/dpkg/status
CMD ["sleep", "100000"]
DOCKERFILE
ctx=$(new_context)
mkdir -p "$ctx/apk"
printf 'C:Q1lab\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\nC:Q1lab\nP:netcat-openbsd\nV:1.226-r0\nA:x86_64\n\nC:Q1lab\nP:libssl3\nV:3.3.2-r0\nA:x86_64\n\n' > "$ctx/apk/installed"
build_image docker.io/library/alpine-tools:latest "$ctx" <<'DOCKERFILE'
FROM scratch
COPY apk/installed /lib/apk/db/installed
COPY index.html /index.html
DOCKERFILE
docker rmi lab/base:import > /dev/null
docker run -d --name r-legacy registry.internal:5000/team/legacy:1.0 > /dev/null
docker create --name r-tools alpine-tools /bin/nc > /dev/null
