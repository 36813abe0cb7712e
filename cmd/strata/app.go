package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/urfave/cli/v2"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "strata",
		Usage:   "build container images as a cached RPM base layer and a thin final layer, without a daemon",
		Version: version,
		Description: "strata reads a recipe, installs its RPM dependencies into a base layer with dnf, " +
			"and commits an OCI image, as root or as an unprivileged user.",
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                globalFlags(),
		Before:               setupLogging,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         usageError,
		Commands: []*cli.Command{
			buildCommand(),
			cacheCommand(),
			completionCommand(),
			depsCommand(),
			doctorCommand(),
			keyCommand(),
			lockCommand(),
			loginCommand(),
			logoutCommand(),
			planCommand(),
			provenanceCommand(),
			pushCommand(),
			sbomCommand(),
			validateCommand(),
			verifyCommand(),
			versionCommand(),
		},
	}
	setUsageError(app.Commands)
	// Without a command, help; an unknown one is a usage error (exit 2).
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("%w: unknown command %q (see strata --help)", build.ErrUsage, c.Args().First())
		}
		return cli.ShowAppHelp(c)
	}
	return app
}

// setUsageError makes flag-parsing errors of every command and subcommand
// usage errors.
func setUsageError(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		setUsageError(c.Subcommands)
	}
}

// usageError marks flag-parsing errors so that they exit with code 2.
func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w: %v", build.ErrUsage, err)
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "root", Usage: "storage root directory (default: podman's: /var/lib/containers/storage, or $XDG_DATA_HOME/containers/storage rootless)", EnvVars: []string{"STRATA_ROOT"}},
		&cli.StringFlag{Name: "runroot", Usage: "storage state directory (default: podman's)", EnvVars: []string{"STRATA_RUNROOT"}},
		&cli.StringFlag{Name: "storage-driver", Usage: "storage driver: overlay or vfs (default: overlay where it works, else vfs)", EnvVars: []string{"STRATA_STORAGE_DRIVER"}},
		&cli.StringFlag{Name: "signature-policy", Usage: "signature policy `FILE` for every image pulled (default: containers/image's lookup: $CONTAINERS_POLICY_JSON, ~/.config/containers/policy.json, /etc/containers/policy.json)", EnvVars: []string{"STRATA_SIGNATURE_POLICY"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: error, warn, info or debug", EnvVars: []string{"STRATA_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", EnvVars: []string{"STRATA_LOG_FORMAT"}},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors on stderr: no progress, no dnf or copy output (stdout is unchanged)", EnvVars: []string{"STRATA_QUIET"}},
	}
}

// logger returns the logger set up by setupLogging.
func logger(c *cli.Context) *logrus.Logger {
	if l, ok := c.App.Metadata["logger"].(*logrus.Logger); ok {
		return l
	}
	return logrus.StandardLogger()
}

func setupLogging(c *cli.Context) error {
	if err := stores.CheckDriver(c.String("storage-driver")); err != nil {
		return fmt.Errorf("--storage-driver: %w", err)
	}
	level, err := logrus.ParseLevel(c.String("log-level"))
	if err != nil {
		return fmt.Errorf("%w: invalid --log-level %q: want error, warn, info or debug", build.ErrUsage, c.String("log-level"))
	}
	if c.Bool("quiet") {
		level = logrus.ErrorLevel
	}
	log := logrus.New()
	log.SetOutput(c.App.ErrWriter)
	log.SetLevel(level)
	switch c.String("log-format") {
	case "text":
		log.SetFormatter(textFormatter{})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	default:
		return fmt.Errorf("%w: invalid --log-format %q: want text or json", build.ErrUsage, c.String("log-format"))
	}
	// buildah and containers/* log through the standard logger.
	logrus.SetOutput(c.App.ErrWriter)
	logrus.SetFormatter(log.Formatter)
	if level < logrus.WarnLevel {
		logrus.SetLevel(level)
	} else {
		logrus.SetLevel(logrus.WarnLevel)
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata["logger"] = log
	return nil
}

// textFormatter prints one readable line per event: the message, then the
// fields (phase, decision, duration) in parentheses.
type textFormatter struct{}

func (textFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b strings.Builder
	if e.Level <= logrus.WarnLevel {
		b.WriteString(e.Level.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if len(e.Data) > 0 {
		var parts []string
		for _, k := range []string{"phase", "decision", "duration"} {
			if v, ok := e.Data[k]; ok {
				parts = append(parts, fmt.Sprint(v))
			}
		}
		if len(parts) > 0 {
			b.WriteString(" (" + strings.Join(parts, ", ") + ")")
		}
	}
	b.WriteByte('\n')
	return []byte(b.String()), nil
}

// progress returns where dnf, run steps and transfers print: stderr as
// is, or, with --log-format json, one JSON event per line (field
// "output"), so that stderr stays one JSON object per line.
func progress(c *cli.Context) io.Writer {
	if c.Bool("quiet") {
		return io.Discard
	}
	if c.String("log-format") != "json" {
		return c.App.ErrWriter
	}
	return &lineLogger{log: logger(c)}
}

// lineLogger logs each complete line written to it. Writes may come from
// several goroutines at once (parallel layer copies).
type lineLogger struct {
	log *logrus.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexAny(l.buf, "\r\n")
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(l.buf[:i]), " "); strings.TrimSpace(line) != "" {
			l.log.WithField("output", true).Info(line)
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
