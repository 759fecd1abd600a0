#!/usr/bin/env bash
# Prepare a Debian machine (a developer's, or CI's as root) for cisaudit and its test lab:
# the system packages first (installed only when missing, so re-running is cheap), then
# cisaudit itself in editable mode with every extra.
#
#   bash scripts/setup.sh            # as root (or with sudo available)
#   PYTHON=python3.11 bash scripts/setup.sh
#   bash scripts/setup.sh --lab      # also start the engine and build the lab host image
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON_GIVEN=${PYTHON:-}
PYTHON=${PYTHON:-python3}

packages=(
    docker.io          # the engine the lab hosts run on (and their own, inside)
    debootstrap        # builds the lab host image from the Debian mirror
    busybox-static     # root filesystem of the containers inside lab hosts
    gcc libc6-dev      # builds the static Kubernetes component stand-ins of k8s lab hosts
    openssh-client     # ssh-keygen, ssh for poking at lab hosts by hand
    debian-archive-keyring gpgv    # debootstrap checks the mirror's signatures
    gcc libc6-dev      # the lab image compiles its Kubernetes stand-in (static)
    iproute2 tar ca-certificates
    poppler-utils      # pdftotext/pdfinfo: tests read generated PDFs back
    gnumeric           # ssconvert: tests read the xlsx workbooks back with another reader
    postgresql         # a real PostgreSQL server for the store's tests (started by the tests)
    chromium chromium-driver   # a real headless browser for the dashboard's tests
    fonts-noto-cjk     # fonts for PDF reports
    libpango-1.0-0 libpangoft2-1.0-0   # weasyprint's text layout
    libharfbuzz-subset0   # fast font subsetting for the Chinese fonts in PDFs
    python3-venv
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo > /dev/null || { echo "setup.sh: need root to install: ${missing[*]}" >&2; exit 1; }
        as_root=(sudo)
    fi
    echo "setup.sh: installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" > /dev/null
fi

# A virtualenv in .venv by default: Debian's own python3 refuses system-wide pip installs
# (PEP 668). Set PYTHON to install into another interpreter instead.
if [ -z "${PYTHON_GIVEN:-}" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PYTHON=.venv/bin/python
fi
# pip's and setuptools' chatter goes to a log, shown only when an install fails.
log=$(mktemp)
pip_install() {
    if ! PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q "$@" > "$log" 2>&1; then
        cat "$log" >&2
        echo "setup.sh: pip install $* failed" >&2
        exit 1
    fi
}
echo "setup.sh: installing cisaudit and its lab into ${PYTHON%/bin/python}"
pip_install --upgrade pip
pip_install -e '.[all]'
# The lab (demo and tests) is its own package, kept out of cisaudit's runtime wheel.
pip_install -e ./lab
rm -f "$log"

if [ "${1:-}" = --lab ]; then
    "$PYTHON" -c 'from cisaudit_lab import build_host_image, ensure_engine
print("setup.sh: lab image", build_host_image(ensure_engine()))'
fi
echo "setup.sh: done"
