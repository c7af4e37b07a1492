#!/bin/sh
# the ensembles of results/accuracy/view64-ensemble-plan.md (cxr-eval built from e881304)
set -eu
E=/work/runs/bin-e881304/cxr-eval
R=/work/runs
O=$(dirname "$0")
for ens in pool4 quarter; do
    if [ $ens = pool4 ]; then S=$R/cx.h5; else S=$R/cx-64.h5; fi
    models="$R/$ens-s1/model.best.h5 --ensemble $R/$ens-s2/model.best.h5 --ensemble $R/$ens-s3/model.best.h5"
    for split in val test; do
        echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus, binaries of e881304" >> $O/command.txt
        echo "cxr-eval $models $S --split $split --json --threads 2 --predictions ${ens}x3.$split.tsv" >> $O/command.txt
        $E $models $S --split $split --json --threads 2 --predictions $O/${ens}x3.$split.tsv > $O/${ens}x3.$split.json 2>> $O/${ens}x3.err
    done
done
