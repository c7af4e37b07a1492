#!/bin/sh
# the ensembles of results/accuracy/ensemble-plan.md, with cxr-eval built from 19a1175
set -eu
E=/work/runs/bin-19a1175/cxr-eval
S=/work/runs/cx.h5
O=/work/runs/ensemble
R=/work/runs
std3="$R/standard-s1/model.best.h5 --ensemble $R/standard-s2/model.best.h5 --ensemble $R/standard-s3/model.best.h5"
all7="$std3 --ensemble $R/study-s1/model.h5 --ensemble $R/strongaug-s1/model.best.h5 --ensemble $R/strongaug-wd10-s1/model.best.h5 --ensemble $R/aspect-s1/model.best.h5"
for ens in std3 all7; do
    eval "models=\$$ens"
    for split in val test; do
        echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus, commit 19a1175" >> $O/command.txt
        echo "cxr-eval $models $S --split $split --json --threads 1 --predictions $ens.$split.tsv" >> $O/command.txt
        $E $models $S --split $split --json --threads 1 --predictions $O/$ens.$split.tsv > $O/$ens.$split.json 2>> $O/$ens.err
    done
done
