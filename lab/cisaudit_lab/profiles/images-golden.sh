# lab-optional: started by tests/lab/test_image_policy_lab.py
# images-golden: images as an image policy wants them. A golden base
# (registry.internal:5000/base/debian:12-golden: the imported base plus a dpkg database
# with the corporate agent and a current openssl), and an application image built on it
# from the internal registry, with a version tag, a non-root USER and the agent, running.
. "$LAB_DIR/_images.sh"
start_dockerd
import_base lab/base:import
GOLDEN_USER=65534 golden_base registry.internal:5000/base/debian:12-golden \
    base-files=12.4+deb12u8 corp-security-agent=2.4.1 openssl=3.0.15-1~deb12u1 libc6=2.36-9+deb12u9
ctx=$(new_context)
build_image registry.internal:5000/team/web:1.4.2 "$ctx" <<'DOCKERFILE'
FROM registry.internal:5000/base/debian:12-golden
COPY index.html /www/index.html
USER 10001
HEALTHCHECK --interval=30s CMD true
CMD ["sleep", "100000"]
DOCKERFILE
docker rmi lab/base:import > /dev/null
docker run -d --name g-web --user 10001 registry.internal:5000/team/web:1.4.2 > /dev/null
