package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/operations"
	"shop/cqrs"
	"shop/ports/httpport"
)

// System is the services of one process, sharing one bus.
type System struct {
	cfg      Config
	platform *Platform
	services []*Service
	// ops and deadLetters run with the orders service, whose port serves
	// the admin API.
	ops         *operations.Operations
	deadLetters *message.Router

	relayStop context.CancelFunc
	relays    sync.WaitGroup
	// deadLettersEnded is closed when the dead letter router's Run returned.
	deadLettersEnded chan struct{}
	servers          []*http.Server
}

// New connects to the configured servers, creates what they lack (indexes,
// queues, consumer groups) and builds the configured services. Nothing runs
// until Start.
func New(ctx context.Context, cfg Config, logger *slog.Logger, adapters Adapters) (_ *System, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The orders service seals what the notifications service opens.
	if cfg.MongoURL == "" && adapters.PersonalKeys == nil && cfg.Runs(Orders) != cfg.Runs(Notifications) {
		return nil, errors.New("without MONGODB_URL the keys of customers' personal data are kept in the process's memory: run the orders and notifications services in one process, or set MONGODB_URL")
	}
	platform, err := newPlatform(ctx, cfg, logger, adapters)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = platform.close()
		}
	}()
	for _, b := range Topology(cfg.Topics) {
		if err := platform.Bus.Declare(ctx, b.ConsumerGroup, b.Topic); err != nil {
			return nil, fmt.Errorf("%s: %w", platform.Bus.Name, err)
		}
	}
	s := &System{cfg: cfg, platform: platform}
	for _, name := range cfg.Services {
		svc, err := newService(name, serviceDeps{ctx: ctx, cfg: cfg, platform: platform, adapters: adapters})
		if err != nil {
			return nil, fmt.Errorf("%s service: %w", name, err)
		}
		s.services = append(s.services, svc)
	}
	if cfg.Runs(Orders) {
		if s.ops, err = s.newOperations(ctx); err != nil {
			return nil, fmt.Errorf("operations: %w", err)
		}
		if s.deadLetters, err = platform.newDeadLetterRouter(s.ops, cfg.ShutdownTimeout); err != nil {
			return nil, fmt.Errorf("dead letter archive: %w", err)
		}
		orders := s.Service(Orders)
		orders.Handler = orders.withAdmin(httpport.Admin{Operations: s.ops, Token: cfg.AdminToken})
	}
	return s, nil
}

// newOperations gives the operators every service's data: on MongoDB also
// that of the services running elsewhere.
func (s *System) newOperations(ctx context.Context) (*operations.Operations, error) {
	return s.platform.operationsOf(ctx, s.Service)
}

// Operations are the operators' use cases; nil unless the orders service runs here.
func (s *System) Operations() *operations.Operations { return s.ops }

// Service returns the named service, or nil when it does not run here.
func (s *System) Service(name string) *Service {
	for _, svc := range s.services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}

// Platform is what the services share.
func (s *System) Platform() *Platform { return s.platform }

// Start runs the routers, waits until every router consumes, then runs the
// relays: a relay's first sweep publishes what an earlier run left behind,
// which must find the handlers subscribed. Then each service's start-up work
// runs (the demo catalog).
func (s *System) Start(ctx context.Context) error {
	relayCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.relayStop = stop
	if run := s.platform.Bus.run; run != nil {
		s.relays.Add(1)
		go func() {
			defer s.relays.Done()
			run(relayCtx)
		}()
	}
	if s.deadLetters != nil {
		s.deadLettersEnded = make(chan struct{})
		ended := s.platform.routerEnded
		go func() {
			defer close(s.deadLettersEnded)
			err := s.deadLetters.Run(context.WithoutCancel(ctx))
			if err != nil {
				s.platform.Logger.Error("router stopped", "router", "dead letter archive", "error", err)
			}
			select {
			case ended <- fmt.Errorf("the dead letter archive's router stopped: %w", cmp.Or(err, errors.New("without an error"))):
			default:
			}
		}()
		// A router that cannot subscribe returns from Run without ever running.
		select {
		case <-s.deadLetters.Running():
		case err := <-s.platform.routerEnded:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Each service takes its share of the partitions, and consumes them
	// before the relays run.
	for _, svc := range s.services {
		svc.assignment.Run(ctx)
	}
	for _, svc := range s.services {
		s.relays.Add(1)
		go func() {
			defer s.relays.Done()
			svc.relay.Run(relayCtx)
		}()
	}
	for _, svc := range s.services {
		if svc.background != nil {
			s.relays.Add(1)
			go func() {
				defer s.relays.Done()
				svc.background(relayCtx)
			}()
		}
	}
	for _, svc := range s.services {
		if svc.onStart != nil {
			if err := svc.onStart(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Serve starts each service's HTTP server and returns the addresses they
// listen on, once they do.
func (s *System) Serve() (map[string]string, error) {
	addrs := map[string]string{}
	for _, svc := range s.services {
		addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Ports[svc.Name]))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s service: %w", svc.Name, err)
		}
		srv := httpport.NewServer(addr, svc.Handler)
		s.servers = append(s.servers, srv)
		addrs[svc.Name] = ln.Addr().String()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.platform.Logger.Error("HTTP server stopped", "service", svc.Name, "error", err)
			}
		}()
	}
	return addrs, nil
}

// Shutdown stops the system without losing accepted work: it stops taking
// requests, then stops consuming and lets the handlers in flight finish, then
// publishes what the relays still hold, and closes the bus last. Each step is
// bounded by the configured shutdown timeout.
func (s *System) Shutdown(ctx context.Context) error {
	var errs []error
	step := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	}

	httpCtx, cancel := step()
	for _, srv := range s.servers {
		if err := srv.Shutdown(httpCtx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	cancel()

	// The services stop consuming together, each partition's router within
	// the shutdown timeout (their CloseTimeout), so that the step is bounded
	// however many there are; then they give their partitions to the other
	// replicas.
	closing := make(chan error, len(s.services)+1)
	for _, svc := range s.services {
		go func() {
			if err := svc.assignment.Stop(ctx); err != nil {
				closing <- fmt.Errorf("%s partitions: %w", svc.Name, err)
				return
			}
			closing <- nil
		}()
	}
	stopping := len(s.services)
	if s.deadLetters != nil {
		stopping++
		go func() {
			err := s.deadLetters.Close()
			if s.deadLettersEnded != nil {
				<-s.deadLettersEnded
			}
			if err != nil {
				closing <- fmt.Errorf("dead letter archive: %w", err)
				return
			}
			closing <- nil
		}()
	}
	for range stopping {
		if err := <-closing; err != nil {
			errs = append(errs, err)
		}
	}

	drainCtx, cancel := step()
	for _, svc := range s.services {
		if err := svc.relay.Drain(drainCtx); err != nil {
			errs = append(errs, fmt.Errorf("%s relay: %w", svc.Name, err))
		}
	}
	cancel()
	if s.relayStop != nil {
		s.relayStop()
	}
	s.relays.Wait()

	if err := s.platform.close(); err != nil {
		errs = append(errs, fmt.Errorf("closing connections: %w", err))
	}
	return errors.Join(errs...)
}

// Run starts everything and serves until ctx is done, then shuts down.
func (s *System) Run(ctx context.Context, ready func(addrs map[string]string)) error {
	if err := s.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	addrs, err := s.Serve()
	if err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	if ready != nil {
		ready(addrs)
	}
	select {
	case <-ctx.Done():
	case err := <-s.platform.routerEnded:
		// Exiting lets the orchestrator start the process again.
		s.platform.Logger.Error("shutting down: a router stopped", "error", err)
		return errors.Join(err, s.Shutdown(ctx))
	}
	s.platform.Logger.Info("shutting down")
	start := time.Now()
	err = s.Shutdown(ctx)
	s.platform.Logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return err
}

// Bindings lists what the handlers of this process's services read.
func (s *System) Bindings() []cqrs.Binding {
	var all []cqrs.Binding
	for _, svc := range s.services {
		all = append(all, svc.processors.Bindings()...)
	}
	if s.deadLetters != nil {
		all = append(all, cqrs.Binding{ConsumerGroup: cqrs.DeadLetterArchiveGroup, Topic: s.platform.Topics.Poison()})
	}
	return all
}
