// Command rayo starts, stops and inspects rayo clusters. See `rayo --help`.
package main

import (
	"os"

	"github.com/rayo-dev/rayo/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
