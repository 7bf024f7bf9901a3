# The shop: an event-sourced CQRS e-commerce platform on Watermill.

GO        ?= go
BIN       := bin/shop
BENCH_N   ?= 10000
BENCH_ORDERS ?= 2000
LOCAL_ENV := BUS=amqp RABBITMQ_URL=amqp://guest:guest@localhost:5672/ REDIS_URL=redis://localhost:6379/0 \
             MONGODB_URL=mongodb://localhost:27017/

.PHONY: run run-local ferretdb build test test-faults test-short bench bench-real lint deploy-check up down logs fmt tidy clean

## run: run every service embedded (in-process bus, in-memory stores) on :3001-:3003
run:
	$(GO) run ./cmd/shop serve

## run-local: run every service on the RabbitMQ, Redis and MongoDB of this machine
run-local:
	$(LOCAL_ENV) $(GO) run ./cmd/shop serve

## ferretdb: serve the MongoDB wire protocol on :27017 from the local PostgreSQL
## (FerretDB, with GIN indexes beside its own), for run-local on a machine
## without MongoDB
ferretdb:
	$(GO) run ./infrastructure/mongo/mongotest/ferretdb -listen 127.0.0.1:27017 -gin

## build: build the shop binary into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/shop

## test: the whole suite with the race detector; then the tests that restart
## the shared RabbitMQ or cut the connection to it, and the fault suite, on
## their own and without it: watermill-amqp v3.0.2 swaps
## ConnectionWrapper.connected unguarded while it reconnects, which the
## detector reports on every reconnect (a library race, not ours)
test:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -tags restart -run 'RestartOfRabbitMQ|Resumes' ./service/ ./infrastructure/amqp/
	$(MAKE) test-faults

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
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	else echo "staticcheck not installed; skipped"; fi

## deploy-check: validate the compose file, the Prometheus configuration and
## alert rules, and the Kubernetes manifests, offline (the Go tests in deploy/
## check the manifests' types and the dashboards' metrics)
deploy-check:
	docker-compose -f docker-compose.yml config -q
	promtool check config deploy/prometheus/prometheus.yml
	kubectl kustomize deploy/k8s >/dev/null

## up, down, logs: the demo (needs Docker): the services, RabbitMQ, MongoDB,
## Redis, Prometheus and Grafana
up:
	docker compose up -d --build

down:
	docker compose down

logs:
	docker compose logs -f

fmt:
	gofmt -w .

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
