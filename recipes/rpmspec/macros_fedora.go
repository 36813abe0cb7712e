package rpmspec

import (
	"fmt"
	"sort"
	"strings"
)

// compatMacros are the rpm macros (in macro-file syntax) that a Fedora
// or RHEL build root defines and that spec files commonly use. The
// native evaluator loads them, and ParseWithRPMSpec hands them to the
// host's rpmspec with --load, so both evaluators see the same
// definitions whatever the host distribution is.
const compatMacros = `# strata rpmspec compatibility macros (Fedora/RHEL layout)
%nil %{!?nil}
%_prefix /usr
%_exec_prefix %{_prefix}
%_bindir %{_exec_prefix}/bin
%_sbindir %{_exec_prefix}/sbin
%_libexecdir %{_exec_prefix}/libexec
%_datarootdir %{_prefix}/share
%_datadir %{_datarootdir}
%_sysconfdir /etc
%_sharedstatedir /var/lib
%_localstatedir /var
%_lib lib64
%_libdir %{_prefix}/%{_lib}
%_includedir %{_prefix}/include
%_infodir %{_datadir}/info
%_mandir %{_datadir}/man
%_docdir %{_datadir}/doc
%_defaultdocdir %{_datadir}/doc
%_defaultlicensedir %{_datadir}/licenses
%_pkgdocdir %{_docdir}/%{name}
%_rundir /run
%_var /var
%_usr /usr
%_usrsrc %{_usr}/src
%_tmppath %{_var}/tmp
%_rpmconfigdir /usr/lib/rpm
%_rpmmacrodir %{_rpmconfigdir}/macros.d
%_unitdir /usr/lib/systemd/system
%_userunitdir /usr/lib/systemd/user
%_presetdir /usr/lib/systemd/system-preset
%_tmpfilesdir /usr/lib/tmpfiles.d
%_sysusersdir /usr/lib/sysusers.d
%_udevrulesdir /usr/lib/udev/rules.d
%_initddir %{_sysconfdir}/rc.d/init.d
%_isa (x86-64)
%_host_os linux
%_os linux
%_gnu -gnu
%_target_platform %{_target_cpu}-%{_vendor}-%{_target_os}%{?_gnu}
%ix86 i386 i486 i586 i686 pentium3 pentium4 athlon geode
%defined() %{expand:%%{?%{1}:1}%%{!?%{1}:0}}
%undefined() %{expand:%%{?%{1}:0}%%{!?%{1}:1}}
%bcond() %[ (%2)\
    ? "%{expand:%%{!?_without_%{1}:%%global with_%{1} 1}}"\
    : "%{expand:%%{?_with_%{1}:%%global with_%{1} 1}}"\
]
%bcond_with() %bcond %{1} 0
%bcond_without() %bcond %{1} 1
%with() %{expand:%%{?with_%{1}:1}%%{!?with_%{1}:0}}
%without() %{expand:%%{?with_%{1}:0}%%{!?with_%{1}:1}}
%__python3 /usr/bin/python3
%python3 %__python3
%python3_sitelib /usr/lib/python%{python3_version}/site-packages
%python3_sitearch /usr/lib64/python%{python3_version}/site-packages
%py3_shbang_opts -sP
%python_provide() %{nil}
%py3_provides() %{nil}
%python_enable_dependency_generator %{nil}
%python_disable_dependency_generator %{nil}
`

// rpmOnlyMacros are the Lua definitions of the macros the native
// evaluator implements in Go (nativeMacros); they are only given to the
// host's rpmspec. They follow Fedora's python-rpm-macros.
const rpmOnlyMacros = `
%py_dist_name() %{lua:\
    local name = rpm.expand("%{?1:%{1}}")\
    local c = string.gsub(string.lower(name), "[^%w%[%]]+", "-")\
    print(c)\
}
%py2_dist() %{lua:\
    for name in string.gmatch(rpm.expand("%*"), "%S+") do\
        print("python2dist(" .. rpm.expand("%py_dist_name " .. name) .. ") ")\
    end\
}
%py3_dist() %{lua:\
    local v = rpm.expand("%python3_pkgversion")\
    for name in string.gmatch(rpm.expand("%*"), "%S+") do\
        print("python" .. v .. "dist(" .. rpm.expand("%py_dist_name " .. name) .. ") ")\
    end\
}
%py_provides() %{lua:\
    local name = rpm.expand("%1")\
    if name == "%1" then\
        rpm.expand("%{error:%%py_provides requires at least 1 argument, the name to provide}")\
    end\
    local evr = rpm.expand("%2")\
    if evr == "%2" then\
        evr = rpm.expand("%{?epoch:%{epoch}:}%{version}-%{release}")\
    end\
    print("Provides: " .. name .. " = " .. evr .. "\\n")\
    local xy = rpm.expand("%{__default_python3_pkgversion}")\
    local alts = {}\
    if name:sub(1, 8) == "python3-" then\
        alts = {"python-" .. name:sub(9), "python" .. xy .. "-" .. name:sub(9)}\
    elseif name:sub(1, 7 + #xy) == "python" .. xy .. "-" then\
        alts = {"python-" .. name:sub(8 + #xy), "python3-" .. name:sub(8 + #xy)}\
    end\
    for i, a in ipairs(alts) do\
        print("Provides: " .. a .. " = " .. evr .. "\\n")\
    end\
}
%pyproject_buildrequires(rRxtNwpe:g:C:) %{nil}
%pyproject_extras_subpkg(n:i:f:F) %{lua:\
    local n = rpm.expand("%{-n*}")\
    local i = rpm.expand("%{-i*}")\
    local f = rpm.expand("%{-f*}")\
    if n == "" then\
        rpm.expand("%{error:%%pyproject_extras_subpkg: missing option -n (name of the base package)}")\
    end\
    local evr = rpm.expand("%{?epoch:%{epoch}:}%{version}-%{release}")\
    for extra in string.gmatch(rpm.expand("%*"), "[^%s,]+") do\
        local p = n .. "+" .. extra\
        print("%package -n " .. p .. "\\n")\
        print("Summary: Metapackage for " .. n .. ": " .. extra .. " extras\\n")\
        print("Requires: " .. n .. " = " .. evr .. "\\n")\
        print("%description -n " .. p .. "\\n")\
        print("This is a metapackage bringing in " .. extra .. " extras requires for " .. n .. ".\\n")\
        print("It makes sure the dependencies are installed.\\n")\
        if i ~= "" then\
            print("%files -n " .. p .. "\\n%ghost " .. i .. "\\n")\
        elseif f ~= "" then\
            print("%files -n " .. p .. " -f " .. f .. "\\n")\
        end\
    end\
}
%python_extras_subpkg(n:i:f:F) %pyproject_extras_subpkg %**
`

// targetMacros returns the macros that identify t.
func targetMacros(opts Options) map[string]string {
	t := opts.Target
	m := t.Macros()
	m["__default_python3_version"] = t.PythonVersion
	m["__default_python3_pkgversion"] = t.PythonVersion
	if t.Distro == "fedora" && t.Version >= 42 {
		// Fedora 42 merged /usr/sbin into /usr/bin.
		m["_sbindir"] = "%{_bindir}"
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func (p *parser) setupMacros() {
	e := p.e
	if err := e.loadMacroFile(compatMacros); err != nil {
		panic("rpmspec: bad compatMacros: " + err.Error())
	}
	tm := targetMacros(p.opts)
	for _, k := range sortedKeys(tm) {
		e.set(k, tm[k])
	}
	e.set("_target_cpu", p.arch)
	for name, fn := range nativeMacros {
		e.push(name, &macroDef{native: fn, param: true})
	}
	for _, k := range sortedKeys(p.opts.Defines) {
		e.set(k, p.opts.Defines[k])
	}
	for _, w := range p.opts.With {
		e.set("_with_"+w, "--with-"+w)
	}
	for _, w := range p.opts.Without {
		e.set("_without_"+w, "--without-"+w)
	}
}

var nativeMacros = map[string]func(e *engine, args []string) (string, error){
	"py_dist_name": func(e *engine, args []string) (string, error) {
		if len(args) == 0 {
			return "", nil
		}
		return pyDistName(args[0]), nil
	},
	"py3_dist": func(e *engine, args []string) (string, error) {
		v, err := e.expand("%python3_pkgversion")
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, a := range args {
			fmt.Fprintf(&b, "python%sdist(%s) ", v, pyDistName(a))
		}
		return b.String(), nil
	},
	"py2_dist": func(e *engine, args []string) (string, error) {
		var b strings.Builder
		for _, a := range args {
			fmt.Fprintf(&b, "python2dist(%s) ", pyDistName(a))
		}
		return b.String(), nil
	},
	"py_provides": func(e *engine, args []string) (string, error) {
		if len(args) == 0 {
			return "", errf("%%{error:...}: %q", "%py_provides requires at least 1 argument, the name to provide")
		}
		name := args[0]
		var evr string
		if len(args) > 1 {
			evr = args[1]
		} else {
			x, err := e.expand("%{?epoch:%{epoch}:}%{version}-%{release}")
			if err != nil {
				return "", err
			}
			evr = x
		}
		xy, err := e.expand("%{__default_python3_pkgversion}")
		if err != nil {
			return "", err
		}
		out := "Provides: " + name + " = " + evr + "\n"
		var alts []string
		if rest, ok := strings.CutPrefix(name, "python3-"); ok {
			alts = []string{"python-" + rest, "python" + xy + "-" + rest}
		} else if rest, ok := strings.CutPrefix(name, "python"+xy+"-"); ok {
			alts = []string{"python-" + rest, "python3-" + rest}
		}
		for _, a := range alts {
			out += "Provides: " + a + " = " + evr + "\n"
		}
		return out, nil
	},
	"pyproject_buildrequires": func(e *engine, args []string) (string, error) {
		e.dynamic = true
		return "", nil
	},
	"pyproject_extras_subpkg": extrasSubpkg,
	"python_extras_subpkg":    extrasSubpkg,
}

// pyDistName canonicalises a Python distribution name like Fedora's
// %py_dist_name: lower-case, and every run of characters other than
// letters, digits and brackets replaced by "-".
func pyDistName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	run := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '[' || c == ']' {
			b.WriteByte(c)
			run = false
			continue
		}
		if !run {
			b.WriteByte('-')
		}
		run = true
	}
	return b.String()
}

func extrasSubpkg(e *engine, args []string) (string, error) {
	var n, i, f string
	var extras []string
	for k := 0; k < len(args); k++ {
		a := args[k]
		if len(a) >= 2 && a[0] == '-' && a != "--" {
			opt := a[1]
			switch opt {
			case 'F':
				continue
			case 'n', 'i', 'f':
				v := a[2:]
				if v == "" {
					if k+1 >= len(args) {
						return "", errf("option %q in %%pyproject_extras_subpkg requires an argument", string(opt))
					}
					k++
					v = args[k]
				}
				switch opt {
				case 'n':
					n = v
				case 'i':
					i = v
				case 'f':
					f = v
				}
				continue
			default:
				return "", errf("unknown option %q in %%pyproject_extras_subpkg", string(opt))
			}
		}
		extras = append(extras, strings.FieldsFunc(a, func(r rune) bool { return r == ',' })...)
	}
	if n == "" {
		return "", errf("%%{error:...}: %q", "%pyproject_extras_subpkg: missing option -n (name of the base package)")
	}
	evr, err := e.expand("%{?epoch:%{epoch}:}%{version}-%{release}")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, x := range extras {
		p := n + "+" + x
		fmt.Fprintf(&b, "%%package -n %s\n", p)
		fmt.Fprintf(&b, "Summary: Metapackage for %s: %s extras\n", n, x)
		fmt.Fprintf(&b, "Requires: %s = %s\n", n, evr)
		fmt.Fprintf(&b, "%%description -n %s\n", p)
		fmt.Fprintf(&b, "This is a metapackage bringing in %s extras requires for %s.\n", x, n)
		b.WriteString("It makes sure the dependencies are installed.\n")
		if i != "" {
			fmt.Fprintf(&b, "%%files -n %s\n%%ghost %s\n", p, i)
		} else if f != "" {
			fmt.Fprintf(&b, "%%files -n %s -f %s\n", p, f)
		}
	}
	return b.String(), nil
}
