/* json.c: the cJSON helpers of cxr_json.h. */
#include "cxr_json.h"
#include "cxr_files.h"
#include "cxr_parse.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void cxr_json_add_text(cJSON *obj, const char *name, const char *s)
{
    int replaced = 0;
    char *ok = cxr_utf8_repair(s, &replaced), *hex = replaced ? cxr_hex_bytes(s) : NULL;
    cJSON_AddStringToObject(obj, name, ok ? ok : "");
    if (hex) {
        char key[128];
        snprintf(key, sizeof key, "%s_hex", name);
        cJSON_AddStringToObject(obj, key, hex);
    }
    free(ok);
    free(hex);
}

cJSON *cxr_json_number(double v)
{
    char b[32];
    return isfinite(v) ? cJSON_CreateRaw(cxr_format_double(b, sizeof b, v)) : cJSON_CreateNull();
}

void cxr_json_add_number(cJSON *obj, const char *name, double v)
{
    cJSON *n = cxr_json_number(v);
    if (n && !cJSON_AddItemToObject(obj, name, n)) cJSON_Delete(n);
}

int cxr_json_add_int_matrix(cJSON *obj, const char *name, const int64_t *m, int k)
{
    cJSON *rows = cJSON_CreateArray();
    /* a row: '[' + k numbers of at most 20 characters and a comma each + ']' */
    char *buf = malloc((size_t)k * 21 + 3);
    int ok = rows && buf;
    for (int i = 0; ok && i < k; i++) {
        size_t n = 0;
        buf[n++] = '[';
        for (int j = 0; j < k; j++)
            n += (size_t)sprintf(buf + n, j ? ",%lld" : "%lld", (long long)m[(size_t)i * k + j]);
        buf[n++] = ']';
        buf[n] = 0;
        cJSON *row = cJSON_CreateRaw(buf);
        ok = row && cJSON_AddItemToArray(rows, row);
    }
    free(buf);
    if (!ok || !cJSON_AddItemToObject(obj, name, rows)) {
        cJSON_Delete(rows);
        return -1;
    }
    return 0;
}

void cxr_json_append_text(cJSON *array, const char *s)
{
    char *ok = cxr_utf8_repair(s, NULL);
    cJSON_AddItemToArray(array, cJSON_CreateString(ok ? ok : ""));
    free(ok);
}
