/* c360_eventing: runs every deployed function of a store in the background
 * (one thread per function, each with its workers) and follows deployment
 * records, so `c360 function deploy` in another process is picked up. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "core/banned.h"

#define MAX_FUNCTIONS 64
#define POLL_MS 1000

struct running {
	char name[C360_FN_NAME_MAX + 1];
	pthread_t th;
	volatile int stop;
	volatile int done;
	c360_fn_run *run;
	bool used;
};

struct c360_eventing {
	c360_store *st;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	struct running fn[MAX_FUNCTIONS];
};

static void *fn_main(void *arg)
{
	struct running *f = arg;
	c360_fn_run_loop(f->run, &f->stop, false);
	f->done = 1;
	return NULL;
}

static void reap(struct running *f)
{
	pthread_join(f->th, NULL);
	c360_fn_run_free(f->run);
	memset(f, 0, sizeof *f);
}

/* Starts the deployed (or paused) functions that are not running. */
static void scan(c360_eventing *ev)
{
	struct c360_buf names;
	c360_json_doc *doc = NULL;
	c360_buf_init(&names, 0);
	for (int i = 0; i < MAX_FUNCTIONS; i++)
		if (ev->fn[i].used && ev->fn[i].done)
			reap(&ev->fn[i]);
	if (c360_fn_list(ev->st, &names) || c360_json_parse(names.data, names.len, NULL, &doc, NULL))
		goto out;
	for (c360_json *e = c360_json_first(c360_json_doc_root(doc)); e; e = c360_json_next(e)) {
		const char *name = c360_json_str(e, NULL);
		bool running = false;
		int slot = -1;
		for (int i = 0; i < MAX_FUNCTIONS; i++) {
			if (ev->fn[i].used && !strcmp(ev->fn[i].name, name))
				running = true;
			if (!ev->fn[i].used && slot < 0)
				slot = i;
		}
		if (running || slot < 0)
			continue;
		struct c360_fn_def def;
		enum c360_fn_state state;
		uint64_t boundary;
		char err[1024] = "";
		if (c360_fn_load(ev->st, name, &def, &state, &boundary) || state == C360_FN_UNDEPLOYED) {
			c360_fn_def_release(&def);
			continue;
		}
		struct running *f = &ev->fn[slot];
		c360_rc rc = c360_fn_run_new(ev->st, &def, boundary, &f->run, err, sizeof err);
		c360_fn_def_release(&def);
		if (rc) {
			/* logged once per scan: the definition stays until undeployed */
			C360_ERROR("eventing", "cannot start function '%s': %s", name, err[0] ? err : c360_rc_str(rc));
			continue;
		}
		snprintf(f->name, sizeof f->name, "%s", name);
		f->used = true;
		f->stop = 0;
		f->done = 0;
		if (pthread_create(&f->th, NULL, fn_main, f)) {
			c360_fn_run_free(f->run);
			memset(f, 0, sizeof *f);
		}
	}
out:
	c360_json_doc_free(doc);
	c360_buf_release(&names);
}

static void *sup_main(void *arg)
{
	c360_eventing *ev = arg;
	pthread_mutex_lock(&ev->mu);
	while (!ev->quit) {
		scan(ev); /* under ev->mu: c360_eventing_running() reads the slots */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += POLL_MS / 1000;
		if (!ev->quit)
			pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

c360_rc c360_eventing_start(c360_store *st, c360_eventing **out)
{
	c360_eventing *ev = calloc(1, sizeof *ev);
	*out = NULL;
	if (!ev)
		return C360_ERR_NOMEM;
	ev->st = st;
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	if (pthread_create(&ev->th, NULL, sup_main, ev)) {
		pthread_mutex_destroy(&ev->mu);
		pthread_cond_destroy(&ev->cv);
		free(ev);
		return C360_ERR_NOMEM;
	}
	*out = ev;
	return C360_OK;
}

int c360_eventing_running(c360_eventing *ev)
{
	int n = 0;
	pthread_mutex_lock(&ev->mu);
	for (int i = 0; i < MAX_FUNCTIONS; i++)
		n += ev->fn[i].used && !ev->fn[i].done;
	pthread_mutex_unlock(&ev->mu);
	return n;
}

void c360_eventing_stop(c360_eventing *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	ev->quit = true;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
	pthread_join(ev->th, NULL);
	for (int i = 0; i < MAX_FUNCTIONS; i++)
		if (ev->fn[i].used) {
			ev->fn[i].stop = 1;
			reap(&ev->fn[i]);
		}
	pthread_mutex_destroy(&ev->mu);
	pthread_cond_destroy(&ev->cv);
	free(ev);
}
