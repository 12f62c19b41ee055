# Sourced by the build benches (build_cost.sh, release-profile.sh): RUNS, checked, and the
# median of the numbers on stdin.
RUNS=${RUNS:-1}
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive whole number" >&2; exit 2 ;; esac
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
