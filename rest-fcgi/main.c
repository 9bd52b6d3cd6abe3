/*
 * rest-fcgi - the REST tier (SPEC.md sections 2 and 5), a FastCGI program
 * run by spawn-fcgi behind nginx. Placeholder main: /health only.
 */
#include <fcgiapp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "jsonutil.h"
#include "log.h"

int main(void)
{
	FCGX_Request rq;
	struct cfg cfg;
	struct db db;
	char err[512];

	if (cfg_load(&cfg, err, sizeof(err)))
		die("config: %s", err);
	log_init("rest-fcgi", cfg.log_level);
	db_init(&db, cfg.db_url, cfg.db_timeout_ms, NULL, 0);
	FCGX_Init();
	FCGX_InitRequest(&rq, 0, 0);
	while (FCGX_Accept_r(&rq) >= 0) {
		int ok = db_ensure(&db, err, sizeof(err)) == 0;
		json_object *d = json_object_new_object();
		char *body;

		json_object_object_add(d, "database", json_object_new_string(ok ? "up" : "down"));
		body = json_envelope(ok ? NULL : "database unavailable", d);
		FCGX_FPrintF(rq.out, "Status: %d\r\nContent-Type: application/json\r\n\r\n%s\n",
			     ok ? 200 : 503, body);
		free(body);
		FCGX_Finish_r(&rq);
	}
	db_release(&db);
	return 0;
}
