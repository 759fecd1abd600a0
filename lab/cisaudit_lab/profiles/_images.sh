# Helpers for the image-policy profiles (images-golden, images-rogue): package databases
# written into image layers as dpkg and apk keep them, so that each package is brought in
# by a known layer and build step.

# dpkg_stanza NAME VERSION: one installed package, as /var/lib/dpkg/status holds it.
dpkg_stanza() {
    printf 'Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: %s\nDescription: lab package %s\n\n' "$1" "$2" "$1"
}

# A golden base image: the imported base plus a layer with the dpkg database (the packages
# given as NAME=VERSION arguments), tagged as the golden base reference; its USER is
# $GOLDEN_USER (root when unset).
golden_base() {
    tag=$1; shift
    ctx=$(new_context)
    mkdir -p "$ctx/dpkg"
    : > "$ctx/dpkg/status"
    for pv in "$@"; do dpkg_stanza "${pv%%=*}" "${pv#*=}" >> "$ctx/dpkg/status"; done
    {
        echo 'FROM lab/base:import'
        echo 'COPY dpkg/status /var/lib/dpkg/status'
        if [ -n "${GOLDEN_USER:-}" ]; then echo "USER $GOLDEN_USER"; fi
    } | build_image "$tag" "$ctx"
}
