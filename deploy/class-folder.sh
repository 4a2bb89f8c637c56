#!/bin/sh
# Create the class folder learners publish their progress to (labkit/classroom.py), as root:
#   deploy/class-folder.sh [/srv/labkit-class] [instructor-user ...]
# root:labkit-instructors, mode 3773: learners (others) may create files there but not list the folder;
# files take the folder's group (setgid) and labkit writes them 0640, so instructors read them and other
# learners do not; the sticky bit keeps anyone from replacing another learner's file.
set -eu
DIR="${1:-/srv/labkit-class}"
[ "$#" -gt 0 ] && shift
getent group labkit-instructors >/dev/null || groupadd --system labkit-instructors
for instructor in "$@"; do usermod -aG labkit-instructors "$instructor"; done
install -d -o root -g labkit-instructors -m 3773 "$DIR"
# The loopback claims folder every mesh uses (labkit/runtime/claims.py); labkit creates it too, but a
# folder made by root cannot be taken over by a learner who happens to start first.
CLAIMS=/run/lock/labkit-claims
[ -d /run/lock ] || CLAIMS=/tmp/labkit-claims
install -d -o root -g root -m 1777 "$CLAIMS"
echo "class folder $DIR ready; set LABKIT_CLASS_DIR=$DIR for every learner"
