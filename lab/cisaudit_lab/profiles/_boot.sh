#!/bin/sh
# Entry point of a lab host (runs under docker-init). Sets up what every host has (keys,
# sshd), runs the profile named by $LAB_PROFILE, then records the outcome in
# /run/lab/state ("ready" or "failed") for the Python side to wait on.
set -u
mkdir -p /run/lab
echo starting > /run/lab/state
if /bin/sh -eu -c '. /opt/cisaudit-lab/_lib.sh; lab_base; . "/opt/cisaudit-lab/$LAB_PROFILE.sh"'; then
    echo ready > /run/lab/state
    echo "lab: profile $LAB_PROFILE ready"
else
    echo failed > /run/lab/state
    echo "lab: profile $LAB_PROFILE FAILED"
fi
exec sleep infinity
