import json,csv,sys,os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
print("| seed | view | val AUC | sensitivity | specificity | mean p(PNEUMONIA), NORMAL | mean p(PNEUMONIA), PNEUMONIA |")
print("|---|---|---|---|---|---|---|")
for s in (1,2,3):
    for a in ("none","aspect=0.8:0.8","aspect=1.25:1.25"):
        j=json.load(open("probe-s%d-%s.json"%(s,a)))
        rows=list(csv.DictReader(open("probe-s%d-%s.tsv"%(s,a)),delimiter="\t"))
        m={}
        for lab in ("NORMAL","PNEUMONIA"):
            ps=[float(r["p_PNEUMONIA"]) for r in rows if r["label"]==lab]
            m[lab]=sum(ps)/len(ps)
        print("| %d | %s | %.4f | %.4f | %.4f | %.4f | %.4f |"%(s,a,j["roc_auc"],j["recall"],j["specificity"],m["NORMAL"],m["PNEUMONIA"]))
