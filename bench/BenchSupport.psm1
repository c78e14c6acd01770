# What the measuring scripts share: medians, free ports, and fresh pwsh processes like the one running the bench.

function Get-Median([double[]] $values) { $s = [double[]]($values | Sort-Object); $m = [Math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }

# Get-FreePort: the tests' own (a port below the kernel's ephemeral range, which no outgoing connection takes first).
. (Join-Path $PSScriptRoot '../tests/Fixtures/FreePort.ps1')

# The command line that starts this same PowerShell: its executable, and pwsh.dll first when PowerShell runs as a dotnet tool.
function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    [string[]] $arguments = @()
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        $dll = Join-Path $PSHOME 'pwsh.dll'
        [string[]] $arguments = if (Test-Path $dll) { @($dll) } else { @([Environment]::GetCommandLineArgs()[0]) }
    }
    [pscustomobject]@{ Exe = $exe; Arguments = $arguments }
}

# Whether the PowerShell running this carries ReadyToRun code, as PowerShell's release packages do (build.ps1 Bench
# runs the benchmarks on such a copy of the dotnet tool PowerShell, which is IL only).
function Get-PwshKind {
    $file = [System.Management.Automation.PSObject].Assembly.Location
    $reader = [Reflection.PortableExecutable.PEReader]::new([IO.File]::OpenRead($file))
    try { $precompiled = $reader.PEHeaders.CorHeader.ManagedNativeHeaderDirectory.Size -gt 0 } finally { $reader.Dispose() }
    if ($precompiled) { "ReadyToRun ($PSHOME)" } else { "IL only ($PSHOME)" }
}

# A fresh pwsh running a script that prints one line of JSON last; that object. -DotnetDll: another PowerShell's
# pwsh.dll, started with dotnet, instead of this one.
function Invoke-ChildPwsh([string] $Script, [string] $DotnetDll) {
    $pwsh = if ($DotnetDll) { [pscustomobject]@{ Exe = (Get-Command dotnet).Source; Arguments = @($DotnetDll) } } else { Get-PwshCommand }
    $arguments = $pwsh.Arguments
    $output = & $pwsh.Exe @arguments -NoProfile -NonInteractive -Command $Script
    if ($LASTEXITCODE) { throw "The child pwsh failed (exit code $LASTEXITCODE): $output" }
    @($output | Where-Object { $_ -match '^\{' })[-1] | ConvertFrom-Json
}

Export-ModuleMember -Function Get-Median, Get-FreePort, Get-PwshCommand, Get-PwshKind, Invoke-ChildPwsh
