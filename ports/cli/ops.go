package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"shop/app/operations"
	"shop/domain/refusal"
	"shop/ports/opsview"
)

// target is where an operator's command runs: a running orders service's
// admin API, or the servers of the environment directly.
type target struct{ server, token string }

// addTargetFlags adds --server and --token to a command's flags.
func addTargetFlags(fs *flag.FlagSet, env Env) *target {
	t := &target{}
	server, _ := env.Lookup("SHOP_SERVER")
	token, _ := env.Lookup("ADMIN_TOKEN")
	fs.StringVar(&t.server, "server", server, "the orders service whose admin API to use ($SHOP_SERVER; default http://localhost:3001 unless MONGODB_URL is set)")
	fs.StringVar(&t.token, "token", token, "the admin API's token ($ADMIN_TOKEN)")
	return t
}

// openOperations gives a command the operators' use cases: those of the
// Env's own (tests), of the admin API at --server, of MONGODB_URL's servers
// directly, or else of the orders service at localhost:3001, as `make run`
// serves it: the embedded mode's data lives in that process only.
func openOperations(ctx context.Context, env Env, t *target) (operator, func() error, error) {
	if env.Operations != nil {
		return env.Operations(ctx)
	}
	server := t.server
	if server == "" {
		if mongo, _ := env.Lookup("MONGODB_URL"); mongo != "" {
			return env.System.Operations(ctx, env.Lookup, env.Stderr)
		}
		server = "http://localhost:3001"
	}
	c, err := newAdminClient(server, t.token, env.System.Projections())
	if err != nil {
		return nil, nil, err
	}
	return c, func() error { return nil }, nil
}

// parseInterspersed parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// timeFlag reads a date (2023-12-01) or a time (RFC 3339).
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	t, err := opsview.ParseTime(s)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

// listFlag reads a comma-separated list.
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}

// output holds what every operators' command prints with.
type output struct {
	env  Env
	json bool
}

func (o output) print(v any, human func(w io.Writer)) error {
	if o.json {
		enc := json.NewEncoder(o.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(o.env.Stdout, 2, 4, 2, ' ', 0)
	human(tw)
	return tw.Flush()
}

// progress draws a bar on stderr when it is a terminal.
func (o output) progress(label string) operations.Progress {
	f, ok := o.env.Stderr.(*os.File)
	if !ok {
		return nil
	}
	if info, err := f.Stat(); err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int) {
		if total <= 0 {
			fmt.Fprintf(f, "\r%s %d", label, done)
			return
		}
		const width = 30
		filled := done * width / total
		fmt.Fprintf(f, "\r%s [%s%s] %d/%d", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total)
		if done == total {
			fmt.Fprintln(f)
		}
	}
}

// refused marks as a wrong command what the operators' use cases refused to
// do as asked: nothing was changed, and asking differently may succeed.
func refused(err error) error {
	// A conflict (a rebuild already running) is not a wrong command.
	if r, ok := refusal.Of(err); ok && r.Kind != refusal.Conflict {
		return refusedCommand{err}
	}
	return err
}

// refusedCommand exits as a wrong command (2) and says only what was
// refused: "dead letter not found: X", not "usage: …".
type refusedCommand struct{ err error }

func (r refusedCommand) Error() string        { return r.err.Error() }
func (r refusedCommand) Unwrap() error        { return r.err }
func (r refusedCommand) Is(target error) bool { return target == errUsage }

func operatorName(env Env) string {
	if u, ok := env.Lookup("USER"); ok && u != "" {
		return u + " (cli)"
	}
	return "cli"
}

const poisonUsage = `shop poison list|show ID|stats|replay|discard [flags]

  list      the dead letters the filters select
  show ID   one dead letter: payload, metadata, history (ID or the message's id)
  stats     counts by status, handler, type and reason
  replay    publish the selected dead letters again, to their handler only
            (a filter, or --all, is required)
  discard   set the selected dead letters aside for good (a filter is required)

Run 'shop poison SUBCOMMAND -h' for its flags.`

// poisonCommand is one subcommand of shop poison: what it says in its help,
// and which of the flags it takes.
type poisonCommand struct {
	args, about string
	// filters: the selection flags; limit: --limit among them; acts: the
	// flags of a command that changes the archive.
	filters, limit, acts, paces bool
}

var poisonCommands = map[string]poisonCommand{
	"list":    {about: "List the dead letters the filters select, newest failure first.", filters: true, limit: true},
	"show":    {args: "ID", about: "Show one dead letter, by its id or its message's id: payload, metadata and history."},
	"stats":   {about: "Count the dead letters the filters select by status, handler, type and reason.", filters: true},
	"replay":  {about: "Publish the selected dead letters again, to the handler that gave up only, in each aggregate's order.\nIt needs a filter, or --all for every failed one.", filters: true, limit: true, acts: true, paces: true},
	"discard": {about: "Set the selected dead letters aside for good. It needs a filter; it never discards them all.", filters: true, limit: true, acts: true},
}

// poisonFlags is what the flags of a poison subcommand read into.
type poisonFlags struct {
	filter     operations.DeadLetterFilter
	statuses   []string
	json       bool
	dryRun     bool
	delay      time.Duration
	rate       float64
	maxReplays int
	by         string
}

func (c poisonCommand) flags(name string, env Env) (*flag.FlagSet, *target, *poisonFlags) {
	fs := newFlags("poison "+name, c.args, c.about, env)
	at := addTargetFlags(fs, env)
	pf := &poisonFlags{maxReplays: operations.DefaultMaxReplays}
	f := &pf.filter
	if c.filters {
		fs.StringVar(&f.Handler, "handler", "", "handler that gave up, with or without its partition (inventory.order-policy)")
		fs.StringVar(&f.Topic, "topic", "", "original topic")
		fs.StringVar(&f.EventType, "event-type", "", "message type (order.placed)")
		fs.StringVar(&f.Reason, "reason", "", "substring of the reason")
		fs.Var(timeFlag{&f.Since}, "since", "last failure at or after (2023-12-01 or RFC 3339)")
		fs.Var(timeFlag{&f.Until}, "until", "last failure before")
		fs.Var(listFlag{&f.IDs}, "ids", "dead letter or message ids, comma-separated")
		fs.Var(listFlag{&pf.statuses}, "status", "failed, replayed, discarded, quarantined (comma-separated)")
	}
	if c.limit {
		fs.IntVar(&f.Limit, "limit", 0, "at most this many")
	}
	fs.BoolVar(&pf.json, "json", false, "print JSON")
	if c.acts {
		fs.BoolVar(&pf.dryRun, "dry-run", false, "show what would happen, change nothing")
		fs.StringVar(&pf.by, "by", operatorName(env), "who acts, for the archive's history")
	}
	if c.paces {
		fs.BoolVar(&f.All, "all", false, "replay every failed dead letter when no filter narrows it")
		fs.DurationVar(&pf.delay, "delay", 0, "wait between messages (1s, 250ms)")
		fs.Float64Var(&pf.rate, "rate", 0, "messages per second at most")
		fs.IntVar(&pf.maxReplays, "max-replays", operations.DefaultMaxReplays, "quarantine a message replayed this often instead")
	}
	return fs, at, pf
}

func poison(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, poisonUsage)
	}
	if isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, poisonUsage)
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	cmd, ok := poisonCommands[sub]
	if !ok {
		return fmt.Errorf("%w: unknown poison command %q: want list, show, stats, replay or discard", errUsage, sub)
	}
	fs, at, pf := cmd.flags(sub, env)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	f := pf.filter
	for _, s := range pf.statuses {
		st, err := operations.StatusFromString(s)
		if err != nil {
			return fmt.Errorf("%w: --status: %v", errUsage, err)
		}
		f.Statuses = append(f.Statuses, st)
	}
	// Refused before connecting, as the use case would refuse it.
	validate := map[string]func() error{"replay": f.ValidateReplay, "discard": f.ValidateDiscard}[sub]
	if validate == nil {
		validate = f.Validate
	}
	if err := validate(); err != nil {
		return refused(err)
	}
	if pf.delay > 0 && pf.rate > 0 {
		return fmt.Errorf("%w: --delay and --rate both pace the replay; give one", errUsage)
	}
	if pf.delay < 0 || pf.rate < 0 || pf.maxReplays < 1 {
		return fmt.Errorf("%w: --delay and --rate must not be negative, --max-replays at least 1", errUsage)
	}
	if want := len(strings.Fields(cmd.args)); len(positional) != want {
		if want == 0 {
			return fmt.Errorf("%w: poison %s takes no arguments, got %q", errUsage, sub, positional)
		}
		return fmt.Errorf("%w: poison %s takes one argument, the dead letter's %s, got %q", errUsage, sub, cmd.args, positional)
	}

	ops, closeOps, err := openOperations(ctx, env, at)
	if err != nil {
		return err
	}
	defer closeOps()
	out := output{env: env, json: pf.json}
	switch sub {
	case "list":
		list, err := ops.DeadLetters(ctx, f)
		if err != nil {
			return err
		}
		views := make([]opsview.DeadLetter, len(list))
		for i, d := range list {
			views[i] = opsview.FromDeadLetter(d, false)
		}
		return out.print(views, func(w io.Writer) { deadLetterTable(w, list) })
	case "show":
		d, err := ops.DeadLetter(ctx, positional[0])
		if err != nil {
			return refused(err)
		}
		return out.print(opsview.FromDeadLetter(d, true), func(w io.Writer) { deadLetterDetail(w, d) })
	case "stats":
		stats, err := ops.DeadLetterStats(ctx, f)
		if err != nil {
			return err
		}
		return out.print(opsview.FromStats(stats), func(w io.Writer) {
			fmt.Fprintf(w, "dead letters\t%d\n", stats.Total)
			fmt.Fprintf(w, "parked behind them\t%d\n", stats.Parked)
			histogram(w, "by status", stats.ByStatus)
			histogram(w, "by handler", stats.ByHandler)
			histogram(w, "by type", stats.ByType)
			histogram(w, "by reason", stats.ByReason)
		})
	case "replay":
		report, err := ops.ReplayDeadLetters(ctx, f, pf.maxReplays, pf.dryRun, operations.Pace{Delay: pf.delay, Rate: pf.rate}, pf.by, out.progress("replaying"))
		if err != nil && report.Selected == 0 {
			return refused(err)
		}
		if perr := out.print(opsview.FromReport(report), func(w io.Writer) { reportSummary(w, report, "replayed") }); perr != nil {
			return perr
		}
		return err
	default: // discard
		report, err := ops.DiscardDeadLetters(ctx, f, pf.dryRun, pf.by)
		if err != nil {
			return refused(err)
		}
		return out.print(opsview.FromReport(report), func(w io.Writer) { reportSummary(w, report, "discarded") })
	}
}

func deadLetterTable(w io.Writer, list []operations.DeadLetter) {
	fmt.Fprintln(w, "ID\tSTATUS\tHANDLER\tTYPE\tFAILURES\tREPLAYS\tPARKED\tLAST FAILURE\tREASON")
	for _, d := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", d.ID, d.Status, d.Handler, d.EventType, d.Failures, d.Replays, d.Parked,
			d.LastFailedAt.Format(time.RFC3339), truncate(d.Reason, 60))
	}
	fmt.Fprintf(w, "%d dead letter(s)\n", len(list))
}

func deadLetterDetail(w io.Writer, d operations.DeadLetter) {
	rows := [][2]string{
		{"id", d.ID}, {"message", d.MessageID}, {"status", d.Status.String()}, {"handler", d.Handler}, {"topic", d.Topic},
		{"type", d.EventType}, {"aggregate", fmt.Sprintf("%s v%d", d.AggregateID, d.AggregateVersion)},
		{"failures", fmt.Sprint(d.Failures)}, {"replays", fmt.Sprint(d.Replays)}, {"parked behind it", fmt.Sprint(d.Parked)},
		{"first failure", d.FirstFailedAt.Format(time.RFC3339)}, {"last failure", d.LastFailedAt.Format(time.RFC3339)},
		{"reason", d.Reason}, {"payload", string(d.Payload)},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\n", r[0], r[1])
	}
	for k, v := range d.Metadata {
		fmt.Fprintf(w, "metadata %s\t%s\n", k, v)
	}
	for _, a := range d.History {
		fmt.Fprintf(w, "history\t%s %s by %s\n", a.At.Format(time.RFC3339), a.What, a.By)
	}
}

func histogram(w io.Writer, title string, counts map[string]int) {
	if len(counts) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	for _, c := range opsview.Counts(counts) {
		fmt.Fprintf(w, "  %s\t%d\t%s\n", truncate(c.Key, 70), c.Count, strings.Repeat("#", min(c.Count, 40)))
	}
}

func reportSummary(w io.Writer, r operations.Report, verb string) {
	if r.DryRun {
		fmt.Fprintf(w, "dry run: %d would be %s; nothing was changed\n", r.Selected, verb)
		if len(r.DeadLetters) > 0 {
			deadLetterTable(w, r.DeadLetters)
		}
		if len(r.Events) > 0 {
			fmt.Fprintln(w, "EVENT\tTYPE\tAGGREGATE\tRECORDED")
		}
		for _, e := range r.Events {
			fmt.Fprintf(w, "%s\t%s\t%s v%d\t%s\n", e.EventID, e.Type, e.AggregateID, e.Version, e.RecordedAt.Format(time.RFC3339))
		}
	} else {
		done := r.Published
		if verb == "discarded" {
			done = r.Selected
		}
		fmt.Fprintf(w, "%s %d of %d", verb, done, r.Selected)
		if r.Quarantined > 0 {
			fmt.Fprintf(w, ", quarantined %d (replayed too often)", r.Quarantined)
		}
		if r.Stopped {
			fmt.Fprint(w, ", stopped before the end")
		}
		if r.RunID != "" {
			fmt.Fprintf(w, " (run %s)", r.RunID)
		}
		fmt.Fprintln(w)
	}
	histogram(w, "by reason", r.ByReason)
	histogram(w, "by handler", r.ByHandler)
	histogram(w, "by type", r.ByType)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func replay(ctx context.Context, env Env, args []string) error {
	fs := newFlags("replay", "", "Publish stored events again, in the order each store recorded them, or with --status failed the dead letters.\nSomething must narrow it (a type, an aggregate, ids, dates, services), or --all.", env)
	at := addTargetFlags(fs, env)
	var req operations.ReplayRequest
	fs.StringVar(&req.Status, "status", "", `"failed" replays the dead letters instead of stored events`)
	fs.StringVar(&req.EventType, "event-type", "", "event type (order.placed)")
	fs.Var(timeFlag{&req.Since}, "start-date", "recorded at or after (2023-12-01 or RFC 3339)")
	fs.Var(timeFlag{&req.Until}, "end-date", "recorded before")
	fs.Var(listFlag{&req.EventIDs}, "event-ids", "event ids, comma-separated")
	fs.StringVar(&req.AggregateID, "aggregate-id", "", "aggregate id")
	fs.Var(listFlag{&req.Services}, "services", "event stores to read: orders, inventory, notifications (default all)")
	fs.IntVar(&req.Limit, "limit", 0, "at most this many")
	fs.BoolVar(&req.All, "all", false, "allow a replay no other flag narrows: every stored event, held in memory before publishing")
	fs.BoolVar(&req.DryRun, "dry-run", false, "show what would be replayed, change nothing")
	fs.DurationVar(&req.Pace.Delay, "delay", 0, "wait between events (1s, 250ms)")
	fs.IntVar(&req.MaxReplays, "max-replays", operations.DefaultMaxReplays, "with --status failed: quarantine a message replayed this often")
	jsonOut := fs.Bool("json", false, "print JSON")
	fs.StringVar(&req.By, "by", operatorName(env), "who acts, for the log of replays")
	if err := parse(fs, args); err != nil {
		return err
	}
	if req.Pace.Delay < 0 {
		return fmt.Errorf("%w: --delay must not be negative", errUsage)
	}
	if len(req.Services) > 0 {
		services, err := env.System.ParseServices(strings.Join(req.Services, ","))
		if err != nil {
			return fmt.Errorf("%w: --services: %v", errUsage, err)
		}
		req.Services = services
	}
	// Refused before connecting, as the use case would refuse it.
	if err := req.Validate(); err != nil {
		return refused(err)
	}
	ops, closeOps, err := openOperations(ctx, env, at)
	if err != nil {
		return err
	}
	defer closeOps()
	out := output{env: env, json: *jsonOut}
	report, err := ops.Replay(ctx, req, out.progress("replaying"))
	if err != nil && report.Selected == 0 {
		return refused(err)
	}
	if perr := out.print(opsview.FromReport(report), func(w io.Writer) { reportSummary(w, report, "replayed") }); perr != nil {
		return perr
	}
	return err
}

func projections(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, "shop projections rebuild [--projection orders|products] [--json]\n\nRebuild read models from the stored events while queries go on; run 'shop projections rebuild -h' for its flags.")
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "rebuild" {
		return fmt.Errorf("%w: shop projections rebuild [--projection orders|products]", errUsage)
	}
	fs := newFlags("projections rebuild", "", "Rebuild read models from the stored events into a fresh copy while queries go on, then swap it in.\nIt prints per read model EVENTS (projected into the copy), CAUGHT UP (recorded meanwhile, applied\nagain after the swap) and how long it TOOK.", env)
	at := addTargetFlags(fs, env)
	projection := fs.String("projection", "", "orders or products (default all)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if known := env.System.Projections(); *projection != "" && !slices.Contains(known, *projection) {
		return fmt.Errorf("%w: --projection %q: want one of %s", errUsage, *projection, strings.Join(known, ", "))
	}
	ops, closeOps, err := openOperations(ctx, env, at)
	if err != nil {
		return err
	}
	defer closeOps()
	names := ops.Projections()
	if *projection != "" {
		names = []string{*projection}
	}
	out := output{env: env, json: *jsonOut}
	var done []operations.RebuildReport
	for _, name := range names {
		report, err := ops.RebuildProjection(ctx, name, out.progress("rebuilding "+name))
		if errors.Is(err, operations.ErrRebuildRunning) {
			return fmt.Errorf("%w; this one changed nothing: run it again when that one is done", err)
		}
		if err != nil {
			return refused(err)
		}
		done = append(done, report)
	}
	views := make([]opsview.Rebuild, len(done))
	for i, r := range done {
		views[i] = opsview.FromRebuild(r)
	}
	return out.print(views, func(w io.Writer) {
		fmt.Fprintln(w, "PROJECTION\tEVENTS\tCAUGHT UP\tTOOK")
		for _, r := range done {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.Name, r.Events, r.CaughtUp, r.Took.Round(time.Millisecond))
		}
		fmt.Fprintln(w, "EVENTS were projected into a fresh copy; CAUGHT UP were read again after the copy was swapped in,")
		fmt.Fprintln(w, "to take in what the live projection applied to the old read model meanwhile.")
	})
}

func snapshots(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, "shop snapshots rebuild [--aggregate-type TYPE] [--json]\n\nTake the snapshots of long streams again from every event; run 'shop snapshots rebuild -h' for its flags.")
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "rebuild" {
		return fmt.Errorf("%w: shop snapshots rebuild [--aggregate-type TYPE]", errUsage)
	}
	fs := newFlags("snapshots rebuild", "", "Take the snapshot of every stream long enough to have one again, from all its events: after a\nsnapshot's schema changed, or SNAPSHOT_EVERY. It prints per aggregate type its STREAMS, how many\nwere TAKEN (long enough), and how long it TOOK. Loads go on meanwhile.", env)
	at := addTargetFlags(fs, env)
	aggregateType := fs.String("aggregate-type", "", "one aggregate type, such as stock (default every one that is snapshotted)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	ops, closeOps, err := openOperations(ctx, env, at)
	if err != nil {
		return err
	}
	defer closeOps()
	out := output{env: env, json: *jsonOut}
	reports, err := ops.RebuildSnapshots(ctx, *aggregateType, out.progress("snapshotting"))
	if err != nil {
		return refused(err)
	}
	views := make([]opsview.SnapshotRebuild, len(reports))
	for i, r := range reports {
		views[i] = opsview.FromSnapshotRebuild(r)
	}
	return out.print(views, func(w io.Writer) {
		fmt.Fprintln(w, "AGGREGATE TYPE\tSTREAMS\tTAKEN\tTOOK")
		for _, r := range reports {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.AggregateType, r.Streams, r.Taken, r.Took.Round(time.Millisecond))
		}
	})
}

func customers(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(env.Stdout, "shop customers erase CUSTOMER_ID [--json]\n\nErase a customer's personal data; run 'shop customers erase -h' for its flags.")
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "erase" {
		return fmt.Errorf("%w: shop customers erase CUSTOMER_ID", errUsage)
	}
	fs := newFlags("customers erase", "CUSTOMER_ID", "Erase a customer's personal data (contact details, delivery addresses): delete the customer's key,\nwhich leaves every sealed copy unreadable, and overwrite what was stored in clear before sealing.\nThe orders stay, with their items, totals and statuses. It cannot be undone.", env)
	at := addTargetFlags(fs, env)
	jsonOut := fs.Bool("json", false, "print JSON")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 1 || strings.TrimSpace(positional[0]) == "" {
		return fmt.Errorf("%w: shop customers erase CUSTOMER_ID: name one customer, got %q", errUsage, positional)
	}
	ops, closeOps, err := openOperations(ctx, env, at)
	if err != nil {
		return err
	}
	defer closeOps()
	erasure, err := ops.EraseCustomer(ctx, positional[0])
	if err != nil {
		return refused(err)
	}
	out := output{env: env, json: *jsonOut}
	return out.print(opsview.FromErasure(erasure), func(w io.Writer) {
		key := "deleted: what it sealed cannot be read any more"
		if !erasure.KeyDeleted {
			key = "none (nothing sealed, or erased before)"
		}
		fmt.Fprintf(w, "customer\t%s\n", erasure.CustomerID)
		fmt.Fprintf(w, "key\t%s\n", key)
		fmt.Fprintf(w, "orders\t%d\n", len(erasure.Orders))
		fmt.Fprintf(w, "events redacted\t%d (stored in clear before sealing)\n", erasure.EventsRedacted)
		fmt.Fprintf(w, "dead letters redacted\t%d\n", erasure.DeadLettersRedacted)
		fmt.Fprintf(w, "parked messages redacted\t%d\n", erasure.ParkedRedacted)
		fmt.Fprintf(w, "archived notifications redacted\t%d\n", erasure.ArchivedNotificationsRedacted)
	})
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }
