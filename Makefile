# The shop: an event-sourced CQRS e-commerce platform on Watermill.

GO        ?= go
BIN       := bin/shop
BENCH_N   ?= 20000

.PHONY: run build test test-short bench lint fmt tidy clean

## run: run every service embedded (in-process bus, in-memory stores) on :3001-:3003
run:
	$(GO) run ./cmd/shop serve

## build: build the shop binary into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/shop

## test: the whole suite with the race detector; then the tests that restart
## the shared RabbitMQ, on their own
test:
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags restart -run Restart ./service/

## test-short: the suite without the race detector, faster
test-short:
	$(GO) test -count=1 ./...

## bench: end-to-end orders/s and latency of the embedded system, over HTTP
bench:
	$(GO) test -run '^$$' -bench OrdersEndToEnd -benchtime $(BENCH_N)x ./service/

## lint: vet, formatting, and staticcheck when it is installed
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	else echo "staticcheck not installed; skipped"; fi

fmt:
	gofmt -w .

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
