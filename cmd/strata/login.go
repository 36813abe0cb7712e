package main

import (
	"fmt"
	"os"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
	"go.podman.io/common/pkg/auth"
	"go.podman.io/image/v5/types"
)

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "log in to a registry: check the credentials and store them in the auth file (as podman login)",
		ArgsUsage: "REGISTRY",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "authfile", Usage: "credentials `FILE` (default: ${XDG_RUNTIME_DIR}/containers/auth.json)", EnvVars: []string{"REGISTRY_AUTH_FILE"}},
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "the user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "the password (prefer --password-stdin: a flag shows in process listings)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
			&cli.StringFlag{Name: "cert-dir", Usage: "`DIR` with the registry's CA certificate (*.crt)"},
			&cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and verify certificates"},
		},
		Action: func(c *cli.Context) error {
			registry, err := oneArg(c, "REGISTRY")
			if err != nil {
				return err
			}
			sys := &types.SystemContext{DockerCertPath: c.String("cert-dir")}
			if !c.Bool("tls-verify") {
				sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
			}
			err = auth.Login(c.Context, sys, &auth.LoginOptions{
				AuthFile:      c.String("authfile"),
				CertDir:       c.String("cert-dir"),
				Username:      c.String("username"),
				Password:      c.String("password"),
				StdinPassword: c.Bool("password-stdin"),
				Stdin:         os.Stdin,
				Stdout:        c.App.ErrWriter,
			}, []string{registry})
			if err != nil {
				return fmt.Errorf("logging in to %s: %w", registry, err)
			}
			return nil
		},
	}
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "remove a registry's credentials from the auth file (as podman logout)",
		ArgsUsage: "REGISTRY",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "authfile", Usage: "credentials `FILE`", EnvVars: []string{"REGISTRY_AUTH_FILE"}},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove the credentials of every registry"},
		},
		Action: func(c *cli.Context) error {
			var args []string
			switch {
			case c.Bool("all") && c.NArg() > 0:
				return fmt.Errorf("%w: --all and REGISTRY cannot be used together", build.ErrUsage)
			case !c.Bool("all"):
				registry, err := oneArg(c, "REGISTRY")
				if err != nil {
					return err
				}
				args = []string{registry}
			}
			err := auth.Logout(&types.SystemContext{}, &auth.LogoutOptions{
				AuthFile: c.String("authfile"),
				All:      c.Bool("all"),
				Stdout:   c.App.ErrWriter,
			}, args)
			if err != nil {
				return fmt.Errorf("logging out: %w", err)
			}
			return nil
		},
	}
}
