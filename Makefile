# The shop: an event-sourced CQRS e-commerce platform on Watermill.

GO        ?= go
BIN       := bin/shop
BENCH_N   ?= 10000
BENCH_ORDERS ?= 2000
LOCAL_ENV := BUS=amqp RABBITMQ_URL=amqp://guest:guest@localhost:5672/ REDIS_URL=redis://localhost:6379/0 \
             MONGODB_URL=mongodb://localhost:27017/

# The compose command: the Docker CLI plugin where it is installed, else the
# standalone docker-compose.
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
STATICCHECK_VERSION ?= v0.8.2
# The admin API's token of `make run` and `make run-local`, which the
# operators' commands (shop poison, replay, projections) read from the same
# variable: `ADMIN_TOKEN=... make run` to choose another.
ADMIN_TOKEN ?= local-admin-token-not-for-production

.PHONY: run run-local ferretdb build install test test-faults test-short bench bench-real lint deploy-check up down logs fmt tidy clean

## run: run every service embedded (in-process bus, in-memory stores) on
## :3001-:3003. It runs the built binary rather than `go run`, so that a
## SIGTERM to make reaches the server (make passes it on to its child; `go run`
## would not pass it on to the program)
run: build
	ADMIN_TOKEN=$(ADMIN_TOKEN) $(BIN) serve

## run-local: run every service on the RabbitMQ, Redis and MongoDB of this machine
run-local: build
	$(LOCAL_ENV) ADMIN_TOKEN=$(ADMIN_TOKEN) $(BIN) serve

## ferretdb: serve the MongoDB wire protocol on :27017 from the local PostgreSQL
## (FerretDB, with GIN indexes beside its own), for run-local on a machine
## without MongoDB
ferretdb:
	$(GO) run ./infrastructure/mongo/mongotest/ferretdb -listen 127.0.0.1:27017 -gin

## build: build the shop binary into bin/ (with the build cache the tests use;
## the container image builds its own static binary)
build:
	$(GO) build -o $(BIN) ./cmd/shop

## install: install the shop command into $(go env GOPATH)/bin, so that `shop`
## runs from anywhere (that directory must be on PATH)
install:
	$(GO) install ./cmd/shop

## test: the whole suite with the race detector, the tests that restart the
## shared RabbitMQ, and the fault suite (scripts/test: it starts FerretDB for
## the MongoDB wire protocol itself, on the local PostgreSQL); needs RabbitMQ,
## Redis and PostgreSQL on their default ports
test:
	GO=$(GO) scripts/test

## test-faults: the fault suite: the services as processes of their own on
## RabbitMQ or Redis Streams, Redis and FerretDB, paced orders with
## Idempotency-Keys, and one fault each (RabbitMQ stopped, FerretDB killed,
## Redis restarted with and without its data, kill -9 of each service);
## prints a table of what the clients saw. FAULTS_RUN picks faults by name,
## FAULTS_SHOP another build of the shop binary
test-faults:
	$(GO) test -count=1 -tags faults -run 'TheSystemComesThroughFaults|ReplicasShareThePartitions' -timeout 18m -v ./service/

## test-short: the suite without the race detector, faster
test-short:
	$(GO) test -count=1 ./...

## bench: end-to-end orders/s and latency over HTTP, on GoChannel, RabbitMQ and
## Redis Streams, each broker beside its bare transport ceiling
bench:
	$(GO) test -run '^$$' -bench OrdersEndToEnd -benchtime $(BENCH_N)x ./service/

## bench-real: the three services as processes of their own on RabbitMQ, then
## Redis Streams, with Redis and FerretDB on the local PostgreSQL: BENCH_ORDERS
## orders by BENCH_CONCURRENCY (64) customers, or BENCH_RATE orders/s for
## BENCH_DURATION (1m); orders/s, latency, MongoDB round trips and bus
## messages per order (see BenchmarkRealServers for every variable)
bench-real:
	$(GO) test -run '^$$' -bench RealServers -benchtime $(BENCH_ORDERS)x -timeout 60m ./service/

## lint: vet, formatting, dependencies pointing inward (architecture/), and
## staticcheck when it is installed
lint:
	$(GO) vet ./...
	$(GO) test -count=1 ./architecture/
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi
	@sc=$$(command -v staticcheck || echo "$$($(GO) env GOPATH)/bin/staticcheck"); \
	if [ ! -x "$$sc" ]; then \
		echo "installing staticcheck $(STATICCHECK_VERSION) (go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION))"; \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) || { echo "staticcheck could not be installed; install it as above"; exit 1; }; \
		sc="$$($(GO) env GOPATH)/bin/staticcheck"; \
	fi; \
	"$$sc" ./... && "$$sc" -tags faults,restart ./...

## deploy-check: validate the compose file, the Prometheus configuration and
## alert rules, and the Kubernetes manifests, offline (the Go tests in deploy/
## check the manifests' types and the dashboards' metrics)
deploy-check:
	@missing=""; \
	$(COMPOSE) version >/dev/null 2>&1 || missing="$$missing\n  $(COMPOSE): Docker Compose (the docker-compose-plugin or the docker-compose package)"; \
	command -v promtool >/dev/null || missing="$$missing\n  promtool: Prometheus's tool (the prometheus package, or a Prometheus release)"; \
	command -v kubectl >/dev/null || missing="$$missing\n  kubectl: https://kubernetes.io/docs/tasks/tools/"; \
	if [ -n "$$missing" ]; then printf "deploy-check needs:$$missing\n"; exit 1; fi
	$(COMPOSE) -f docker-compose.yml config -q
	promtool check config deploy/prometheus/prometheus.yml
	kubectl kustomize deploy/k8s >/dev/null

## up, down, logs: the demo (needs Docker): the services, RabbitMQ, MongoDB,
## Redis, Prometheus and Grafana
up:
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f

fmt:
	gofmt -w .

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
