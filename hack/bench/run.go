package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// line is one line a command printed, with when it arrived.
type line struct {
	At   time.Duration // since the start of the command
	Text string
}

// result is one measured command.
type result struct {
	Wall   time.Duration
	Stdout string
	Lines  []line // stderr (and stdout when merged), timestamped
	// VmHWM is the peak resident set of the process itself, polled from
	// /proc/PID/status every 20 ms (0 when not polled).
	VmHWM int64
	// MaxRSS is wait4's ru_maxrss: the largest of the process and the
	// descendants it waited for (dnf under runc included), bytes.
	MaxRSS int64
}

// runOpts are the options of one command.
type runOpts struct {
	Env     []string // added to the harness's environment
	Dir     string
	PollRSS bool
	Merge   bool          // stdout joins the timestamped lines (buildah prints its steps there)
	Timeout time.Duration // default 20 minutes
}

// run runs a command to completion and measures it. A failure is an
// error carrying the command's last output lines.
func run(ctx context.Context, opts runOpts, name string, args ...string) (*result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	// Its own process group, stopped as a whole (SIGTERM, then SIGKILL),
	// and killed with the harness if that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		err := syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			time.Sleep(15 * time.Second)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}()
		return err
	}
	cmd.WaitDelay = 30 * time.Second

	lw := &lineWriter{}
	var stdout bytes.Buffer
	cmd.Stderr = lw
	if opts.Merge {
		cmd.Stdout = io.MultiWriter(&stdout, lw)
	} else {
		cmd.Stdout = &stdout
	}
	start := time.Now()
	lw.start = start
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var hwm int64
	stop := make(chan struct{})
	pollDone := make(chan struct{})
	if opts.PollRSS {
		go func() {
			defer close(pollDone)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				if v := vmHWM(cmd.Process.Pid); v > hwm {
					hwm = v
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	} else {
		close(pollDone)
	}
	// Wait in two steps so that VmHWM is read at the very end too: wait
	// for the exit without reaping (a zombie's status stays readable
	// until it is reaped), then reap with Wait.
	_ = waitExited(cmd.Process.Pid)
	wall := time.Since(start)
	close(stop)
	<-pollDone
	if opts.PollRSS {
		if v := vmHWM(cmd.Process.Pid); v > hwm {
			hwm = v
		}
	}
	err := cmd.Wait()
	r := &result{Wall: wall, Stdout: stdout.String(), Lines: lw.done(), VmHWM: hwm}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024
	}
	if err != nil {
		what := name + " " + strings.Join(args, " ")
		if ctx.Err() != nil {
			return r, fmt.Errorf("%s: stopped (%v)", what, ctx.Err())
		}
		return r, fmt.Errorf("%s: %v\n--- last output:\n%s", what, err, r.tail(40))
	}
	return r, nil
}

// waitExited waits until pid has exited, leaving it unreaped (waitid
// with WNOWAIT).
func waitExited(pid int) error {
	const pPID, wEXITED, wNOWAIT = 1, 4, 0x01000000
	var si [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&si[0])), wEXITED|wNOWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// vmHWM reads VmHWM (bytes) of pid; 0 when it cannot.
func vmHWM(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

func (r *result) tail(n int) string {
	if r == nil {
		return ""
	}
	ls := r.Lines
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// lineWriter splits what it gets into timestamped lines.
type lineWriter struct {
	mu    sync.Mutex
	start time.Time
	buf   []byte
	lines []line
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := time.Since(w.start)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		if i > 0 {
			w.lines = append(w.lines, line{At: at, Text: string(w.buf[:i])})
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) done() []line {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.lines = append(w.lines, line{At: time.Since(w.start), Text: string(w.buf)})
		w.buf = nil
	}
	return w.lines
}

// phaseEvent is one of strata's --log-format json phase events.
type phaseEvent struct {
	Phase    string `json:"phase"`
	Decision string `json:"decision"`
	Duration string `json:"duration"`
	Msg      string `json:"msg"`
}

// textPhaseRE matches the end of a phase line of strata's text log:
// "MESSAGE (PHASE, DECISION, DURATION)".
var textPhaseRE = regexp.MustCompile(`^(.*) \((sources|base|final|push), ([a-z]+), ([0-9.]+[a-zµ]+)\)$`)

// strataPhases parses strata's phase events from its stderr, JSON or text.
func strataPhases(r *result) []phaseEvent {
	var out []phaseEvent
	for _, l := range r.Lines {
		if strings.HasPrefix(l.Text, "{") {
			if !strings.Contains(l.Text, `"phase"`) {
				continue
			}
			var e phaseEvent
			if json.Unmarshal([]byte(l.Text), &e) == nil && e.Phase != "" {
				out = append(out, e)
			}
			continue
		}
		if m := textPhaseRE.FindStringSubmatch(l.Text); m != nil {
			out = append(out, phaseEvent{Msg: m[1], Phase: m[2], Decision: m[3], Duration: m[4]})
		}
	}
	return out
}

// strataSteps splits a strata run (JSON or text log) into the steps its info
// messages mark, by the time each message arrived: "sources: checkout
// NAME", "base: dnf install", "final: copy NAME", "final: install NAME,
// commit", ... Each step lasts until the next message. Keys are "NN
// label", NN the step's position.
func strataSteps(r *result) map[string]time.Duration {
	type mark struct {
		at    time.Duration
		label string
		phase string
	}
	var marks []mark
	for _, l := range r.Lines {
		var e struct {
			Msg    string `json:"msg"`
			Output bool   `json:"output"`
			Phase  string `json:"phase"`
		}
		if strings.HasPrefix(l.Text, "{") {
			if json.Unmarshal([]byte(l.Text), &e) != nil || e.Output {
				continue
			}
		} else if m := textPhaseRE.FindStringSubmatch(l.Text); m != nil {
			// The text log: a phase line, or any other line (a
			// message, or the output of dnf and of transfers, which
			// stepOf does not take for a step).
			e.Msg, e.Phase = m[1], m[2]
		} else {
			e.Msg = l.Text
		}
		if label := stepOf(e.Msg, e.Phase); label != "" {
			marks = append(marks, mark{l.At, label, e.Phase})
		}
	}
	if len(marks) == 0 {
		return nil
	}
	out := map[string]time.Duration{}
	prevAt, prevLabel := time.Duration(0), "start-up, resolving the sources"
	for i, m := range marks {
		label := prevLabel
		if ends, ok := strings.CutPrefix(m.label, "="); ok {
			// A message that ends its step names it.
			label, m.label = ends, "final: compose the image"
		}
		switch {
		case m.phase == "final" && strings.HasPrefix(label, "final: install "):
			label += ", commit"
		case m.phase == "push" && label == "exit":
			label = "push"
		case m.label == "base: shared" && label == "base: commit":
			label = "base: commit, push to the registry cache"
		}
		out[fmt.Sprintf("%02d %s", i, label)] += m.at - prevAt
		prevAt, prevLabel = m.at, m.label
	}
	out[fmt.Sprintf("%02d %s", len(marks), prevLabel)] += r.Wall - prevAt
	return out
}

var (
	checkoutRE = regexp.MustCompile(`^checking out \S+ of branch "[^"]*" of "([^"]*)"`)
	copyRE     = regexp.MustCompile(`^final: copying (\S+) at`)
	installRE  = regexp.MustCompile(`^final: running the install command of ([^:]+):`)
	// Messages that end a step of the final image: its layers.
	checkoutLayerRE = regexp.MustCompile(`^final: checkout layer of (\S+) at \S+: (\w+)`)
	installLayerRE  = regexp.MustCompile(`^final: install layer of (\S+): (\w+)`)
	// The same, composed in the registry.
	remoteLayerRE = regexp.MustCompile(`^final: (checkout|install) layer of (\S+): (in the registry|built and uploaded)`)
)

// stepOf names the step a strata message starts; "" for other messages.
func stepOf(msg, phase string) string {
	switch phase {
	case "sources":
		return "base: key, lookup"
	case "base":
		return "final: key, lookup"
	case "final", "push":
		return "exit"
	}
	if m := checkoutRE.FindStringSubmatch(msg); m != nil {
		return "sources: checkout " + filepath.Base(m[1])
	}
	if m := copyRE.FindStringSubmatch(msg); m != nil {
		return "final: copy " + m[1]
	}
	if m := remoteLayerRE.FindStringSubmatch(msg); m != nil {
		return "=final: " + m[1] + " layer " + m[2] + " (" + m[3] + ")"
	}
	if strings.HasPrefix(msg, "final: pulling the base") {
		return "final: pull the base for an install command"
	}
	if m := checkoutLayerRE.FindStringSubmatch(msg); m != nil {
		return "=final: checkout layer " + m[1] + " (" + m[2] + ")"
	}
	if m := installRE.FindStringSubmatch(msg); m != nil {
		return "=final: working container for " + m[1]
	}
	if m := installLayerRE.FindStringSubmatch(msg); m != nil {
		return "=final: install layer " + m[1] + " (" + m[2] + ")"
	}
	switch {
	case strings.HasPrefix(msg, "base: preparing"):
		return "base: prepare the base image"
	case strings.HasPrefix(msg, "base: installing"):
		return "base: dnf install"
	case strings.HasPrefix(msg, "base: committing"):
		return "base: commit"
	case strings.HasPrefix(msg, "base: pulling the cached base"):
		return "base: pull from the registry cache"
	case strings.HasPrefix(msg, "base: shared as"):
		return "base: shared"
	}
	return ""
}

// buildahStep is the time between one STEP line of buildah's output and
// the next (or the end).
type buildahStep struct {
	Step   string // "STEP 2/9: RUN ..." shortened
	Dur    time.Duration
	Cached bool
}

// buildahSteps derives per-step durations from the timestamped output
// of buildah bud: from a STEP line to the next one, the last one to the
// end of the command.
func buildahSteps(r *result) []buildahStep {
	var out []buildahStep
	var cur *buildahStep
	var curAt time.Duration
	for _, l := range r.Lines {
		if strings.HasPrefix(l.Text, "STEP ") {
			if cur != nil {
				cur.Dur = l.At - curAt
				out = append(out, *cur)
			}
			cur = &buildahStep{Step: shorten(l.Text, 70)}
			curAt = l.At
			continue
		}
		if cur != nil && strings.Contains(l.Text, "Using cache") {
			cur.Cached = true
		}
	}
	if cur != nil {
		cur.Dur = r.Wall - curAt
		out = append(out, *cur)
	}
	return out
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
