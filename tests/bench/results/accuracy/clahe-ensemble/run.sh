#!/bin/sh
# the ensemble of results/accuracy/clahe-ensemble-plan.md (cxr-eval built from 4485ef8; its
# --ensemble is 19a1175's). Run after clahe-s3 has finished.
set -eu
E=/work/runs/bin-4485ef8/cxr-eval
S=/work/runs/cx-clahe.h5
R=/work/runs
O=$(dirname "$0")
models="$R/clahe-s1/model.best.h5 --ensemble $R/clahe-s2/model.best.h5 --ensemble $R/clahe-s3/model.best.h5"
for split in val test; do
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus, binaries of 4485ef8" >> $O/command.txt
    echo "cxr-eval $models $S --split $split --json --threads 2 --predictions clahe3.$split.tsv" >> $O/command.txt
    $E $models $S --split $split --json --threads 2 --predictions $O/clahe3.$split.tsv > $O/clahe3.$split.json 2>> $O/clahe3.err
done
