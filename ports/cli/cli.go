// Package cli is the command line of the shop binary: serving the services,
// and the operator tools.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"shop/app/operations"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is how the command line reads the environment, and what it runs.
type Env struct {
	Lookup func(string) (string, bool)
	// System is what the commands run, built by the composition root
	// (service.CommandLine): the command line parses, the system runs.
	System System
	// Operations, when set, gives the operators' commands their use cases
	// instead of connecting to the servers of the environment.
	Operations func(ctx context.Context) (ops *operations.Operations, close func() error, err error)
	Stdout     io.Writer
	Stderr     io.Writer
}

// System is what the command line runs.
type System interface {
	// ParseServices reads a comma-separated list of services, refusing an
	// unknown one.
	ParseServices(s string) ([]string, error)
	// Projections names the read models that can be rebuilt.
	Projections() []string
	// Serve runs the services the configuration read from lookup names,
	// until ctx ends, logging to log.
	Serve(ctx context.Context, lookup func(string) (string, bool), log io.Writer) error
	// Operations connects the operators' use cases to the servers the
	// configuration read from lookup names.
	Operations(ctx context.Context, lookup func(string) (string, bool), log io.Writer) (ops *operations.Operations, close func() error, err error)
}

// errUsage marks an error in how the command was called.
var errUsage = errors.New("usage")

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run services: shop serve [--services orders,inventory,notifications]", serve},
		"poison":      {"dead letters: shop poison list|show ID|stats|replay|discard [filters]", poison},
		"replay":      {"publish stored events again: shop replay --event-type T|--start-date D|...|--all [--dry-run]", replay},
		"projections": {"rebuild read models: shop projections rebuild [--projection orders|products]", projections},
		"snapshots":   {"rebuild snapshots: shop snapshots rebuild [--aggregate-type stock]", snapshots},
		"customers":   {"erase a customer's personal data: shop customers erase CUSTOMER_ID", customers},
		"health":      {"check a service answers: shop health [--url http://localhost:3001/health] (for container health checks)", health},
		"version":     {"the build: module version, commit, Go version", version},
	}
}

// Run executes the command line and returns the process's exit code.
func Run(ctx context.Context, args []string, env Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "shop: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return ExitUsage
	}
	err := cmd.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.Stderr, "shop %s: %v\n", args[0], err)
		return ExitUsage
	default:
		fmt.Fprintf(env.Stderr, "shop %s: %v\n", args[0], err)
		return ExitFailure
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: shop <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'shop <command> -h' for a command's flags. Configuration comes from environment variables; see README.md.")
}

// newFlags is a flag set whose errors are returned, not printed and exited
// on. Its help names the command, its arguments (args, after the flags),
// what it does (about), and its flags.
func newFlags(name, args, about string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("shop "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: shop %s [flags]", name)
		if args != "" {
			fmt.Fprint(w, " "+args)
		}
		fmt.Fprintf(w, "\n\n%s\n", about)
		empty := true
		fs.VisitAll(func(*flag.Flag) { empty = false })
		if !empty {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args, marking bad flags and stray arguments as usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}

func serve(ctx context.Context, env Env, args []string) error {
	fs := newFlags("serve", "", "Run the services in this process: all of them, unless SERVICES or --services names some.\nConfiguration comes from environment variables (README.md).", env)
	services := fs.String("services", "", "comma-separated services to run (default: all, or $SERVICES)")
	if err := parse(fs, args); err != nil {
		return err
	}
	lookup := env.Lookup
	if *services != "" {
		if _, err := env.System.ParseServices(*services); err != nil {
			return fmt.Errorf("%w: --services: %v", errUsage, err)
		}
		// The flag stands in for SERVICES, which PORT depends on.
		lookup = func(key string) (string, bool) {
			if key == "SERVICES" {
				return *services, true
			}
			return env.Lookup(key)
		}
	}
	return env.System.Serve(ctx, lookup, env.Stderr)
}

// health asks a service's health endpoint, for container health checks in
// images that have no shell and no curl.
func health(ctx context.Context, env Env, args []string) error {
	fs := newFlags("health", "", "Ask a service's /health and exit 0 when it is healthy, 1 otherwise (for container health checks).", env)
	url := fs.String("url", "", "the URL to ask (default http://localhost:$PORT/health)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		port, ok := env.Lookup("PORT")
		if !ok || port == "" {
			port = "3001"
		}
		*url = "http://localhost:" + port + "/health"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("%w: --url: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintln(env.Stdout, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}

// version prints what the binary was built from, as the Go toolchain
// recorded it.
func version(_ context.Context, env Env, args []string) error {
	if err := parse(newFlags("version", "", "Print the module version, the commit and the Go version this binary was built from.", env), args); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("no build information in this binary")
	}
	commit, modified := "unknown", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (with local changes)"
			}
		}
	}
	fmt.Fprintf(env.Stdout, "shop %s, commit %s%s, %s\n", info.Main.Version, commit, modified, info.GoVersion)
	return nil
}
