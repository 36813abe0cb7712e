package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage sigstore signing keys",
		Subcommands: []*cli.Command{{
			Name:  "generate",
			Usage: "make a sigstore key pair for --sign-by-sigstore-private-key (as skopeo generate-sigstore-key)",
			Description: "Writes PREFIX.pub (the public key, for policy.json's keyPath or strata verify --key) and PREFIX.private\n" +
				"(the private key, encrypted with the passphrase), and refuses to overwrite either. The passphrase is read\n" +
				"from --passphrase-file, else asked for on the terminal.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output-prefix", Value: "strata", Usage: "write `PREFIX`.pub and PREFIX.private"},
				&cli.StringFlag{Name: "passphrase-file", Usage: "read the passphrase from the first line of `FILE`"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return fmt.Errorf("%w: key generate takes no arguments, got %q", build.ErrUsage, c.Args().First())
				}
				prefix := c.String("output-prefix")
				pub, priv := prefix+".pub", prefix+".private"
				for _, f := range []string{pub, priv} {
					if _, err := os.Lstat(f); err == nil {
						return fmt.Errorf("%w: %q exists: not overwriting a key", build.ErrUsage, f)
					}
				}
				pass, err := passphrase(c)
				if err != nil {
					return err
				}
				k, err := build.GenerateKey(pass)
				if err != nil {
					return err
				}
				// The private key first, never readable by others; a
				// public key without it would be of no use.
				if err := writeNew(priv, k.Private, 0o600); err != nil {
					return err
				}
				if err := writeNew(pub, k.Public, 0o644); err != nil {
					os.Remove(priv)
					return err
				}
				fmt.Fprintln(c.App.Writer, pub)
				fmt.Fprintln(c.App.Writer, priv)
				return nil
			},
		}},
	}
}

// passphrase reads --passphrase-file, else asks twice on the terminal.
func passphrase(c *cli.Context) ([]byte, error) {
	if f := c.String("passphrase-file"); f != "" {
		return build.ReadPassphraseFile("--passphrase-file", f)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("%w: no --passphrase-file, and stdin is not a terminal to ask on", build.ErrUsage)
	}
	fmt.Fprint(c.App.ErrWriter, "passphrase for the private key: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(c.App.ErrWriter)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	fmt.Fprint(c.App.ErrWriter, "again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(c.App.ErrWriter)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if string(a) != string(b) {
		return nil, errors.New("the passphrases differ")
	}
	return a, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(name string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
