<#
.SYNOPSIS
    Start-up figures for docs/BENCHMARKS.md: what a runbook or an Azure Automation job pays, each being a fresh process.
    On a generated repository (bench/New-BenchRepository.ps1, -Commits commits, -Tags tags), -Runs alternating rounds of
    1. a fresh pwsh that imports the module and runs its first Get-RollbackAssessment -Strategy Git (timed inside the child:
       the child's own start-up is not the module's cost), printing that time, the methods the JIT compiled for it and
       the process's peak working set;
    2. git's four processes answering the same question, started with & (describe, tag list in version order, log since
       the previous release, status): git is a fresh process every time.
    Returns the report's markdown lines. Expects the module imported by the caller (its path is taken from there).
#>
param(
    [ValidateRange(1, 50)] [int] $Runs = 5,
    [ValidateRange(100, 1000000)] [int] $Commits = 20000,
    [ValidateRange(2, 100000)] [int] $Tags = 2000,
    # The dotnet tool PowerShell's pwsh.dll (IL only): measured too, in the same rounds, when it is not the PowerShell
    # running this (build.ps1 Bench runs the benchmarks on a ReadyToRun copy of it, as PowerShell is installed).
    [string] $ToolPwsh
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$invariant = [Globalization.CultureInfo]::InvariantCulture
$firstGoal = 1.5
$peakGoalMb = 150
$modulePath = Join-Path (Get-Module DeploymentRollback).ModuleBase 'DeploymentRollback.psd1'
$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-startup-$PID"
$repo = Join-Path $work 'repo'

Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function F([double] $value, [string] $format = '0.0') { $value.ToString($format, $invariant) }
function Met([bool] $ok) { if ($ok) { 'yes' } else { '**no**' } }


# The same question as Get-RollbackAssessment, asked of git in four processes; the milliseconds of the four together.
function Measure-Git {
    $watch = [Diagnostics.Stopwatch]::new()
    $total = 0.0
    $watch.Restart(); $describe = @(& git -C $repo describe --tags HEAD)[0]; $total += $watch.Elapsed.TotalMilliseconds
    $watch.Restart(); $tagList = @(& git -C $repo tag --list --sort=-v:refname); $total += $watch.Elapsed.TotalMilliseconds
    $base = if ($describe -match '^(?<tag>.+)-[0-9]+-g[0-9a-f]+$') { $Matches['tag'] } else { $tagList[[Array]::IndexOf($tagList, $describe) + 1] }
    $watch.Restart(); $null = @(& git -C $repo log --oneline "$base..HEAD" -n 50); $total += $watch.Elapsed.TotalMilliseconds
    $watch.Restart(); $null = @(& git -C $repo status --porcelain); $total += $watch.Elapsed.TotalMilliseconds
    $total
}

function Get-LoadAverage { if (Test-Path /proc/loadavg) { ((Get-Content -Raw /proc/loadavg) -split ' ')[0..2] -join ' ' } }

try {
    $loadBefore = Get-LoadAverage
    New-Item -ItemType Directory -Force $work | Out-Null
    $null = & (Join-Path $PSScriptRoot 'New-BenchRepository.ps1') -Path $repo -Commits $Commits -Tags $Tags
    $child = @"
`$ErrorActionPreference = 'Stop'
`$watch = [Diagnostics.Stopwatch]::StartNew()
Import-Module '$($modulePath -replace "'", "''")'
`$importMs = `$watch.Elapsed.TotalMilliseconds
`$jit = [System.Runtime.JitInfo]::GetCompiledMethodCount(`$false)
`$watch.Restart()
`$assessment = Get-RollbackAssessment -Strategy Git -Path '$($repo -replace "'", "''")' -StateDirectory '$((Join-Path $work 'state') -replace "'", "''")'
`$firstMs = `$watch.Elapsed.TotalMilliseconds
`$jit = [System.Runtime.JitInfo]::GetCompiledMethodCount(`$false) - `$jit
[Console]::Out.WriteLine((ConvertTo-Json -Compress -InputObject @{ import = `$importMs; first = `$firstMs; jit = `$jit; peak = [Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64; lastGood = `$assessment.LastGoodVersion }))
"@
    $null = Measure-Git
    $import = [Collections.Generic.List[double]]::new(); $first = [Collections.Generic.List[double]]::new(); $both = [Collections.Generic.List[double]]::new()
    $jit = [Collections.Generic.List[double]]::new(); $peak = [Collections.Generic.List[double]]::new(); $git = [Collections.Generic.List[double]]::new()
    $compareTool = $ToolPwsh -and (Test-Path $ToolPwsh) -and [IO.Path]::GetFullPath($ToolPwsh) -ne [IO.Path]::GetFullPath((Join-Path $PSHOME 'pwsh.dll'))
    $tool = @{ Import = [Collections.Generic.List[double]]::new(); First = [Collections.Generic.List[double]]::new(); Jit = [Collections.Generic.List[double]]::new(); Peak = [Collections.Generic.List[double]]::new() }
    for ($i = 0; $i -lt $Runs; $i++) {
        $ours = Invoke-ChildPwsh $child
        if (-not $ours.lastGood) { throw 'The fresh process found no last good version.' }
        $import.Add($ours.import); $first.Add($ours.first); $both.Add($ours.import + $ours.first); $jit.Add($ours.jit); $peak.Add($ours.peak / 1MB)
        $git.Add((Measure-Git))
        if ($compareTool) {
            $other = Invoke-ChildPwsh $child -DotnetDll $ToolPwsh
            $tool.Import.Add($other.import); $tool.First.Add($other.first); $tool.Jit.Add($other.jit); $tool.Peak.Add($other.peak / 1MB)
        }
    }
    $f = Get-Median $first; $g = Get-Median $git; $b = Get-Median $both; $p = Get-Median $peak
    $toolRows = if ($compareTool) {
        $tf = Get-Median $tool.First
        "| The first assessment again, on the dotnet tool PowerShell (IL only) | $(F $tf) ms | $(F $g) ms | $(F ($tf / $g) '0.00') | - | - |"
        "| ``Import-Module`` alone: this PowerShell / the dotnet tool PowerShell | $(F (Get-Median $import)) ms / $(F (Get-Median $tool.Import)) ms | - | - | - | - |"
        "| Peak working set / JIT-compiled methods, on the dotnet tool PowerShell | $(F (Get-Median $tool.Peak) '0') MB / $(F (Get-Median $tool.Jit) '0') | - | - | - | - |"
    }
    @(
        ''
        '## Start-up: a fresh process'
        ''
        "Runbooks and Azure Automation jobs start a new process each time, so the first call after ``Import-Module`` is the one they pay for. $Runs alternating rounds on the $('{0:N0}' -f $Commits)-commit, $('{0:N0}' -f $Tags)-tag repository: a fresh ``pwsh`` imports the module and runs one ``Get-RollbackAssessment -Strategy Git`` (timed inside the child); then git's four processes (``describe``, ``tag --sort=-v:refname``, ``log``, ``status``, through ``&``), which are fresh processes anyway. Medians."
        ''
        '| Measurement | DeploymentRollback | git | Ratio ours/git | Goal | Met |'
        '|---|---:|---:|---:|---|---|'
        "| First Git assessment in a fresh process (min-max) | $(F $f) ms ($(F ($first | Measure-Object -Minimum).Minimum)-$(F ($first | Measure-Object -Maximum).Maximum)) | $(F $g) ms | **$(F ($f / $g) '0.00')** | <= $(F $firstGoal '0.0') | $(Met ($f / $g -le $firstGoal)) |"
        "| The same with ``Import-Module`` counted | $(F $b) ms | $(F $g) ms | $(F ($b / $g) '0.00') | - | - |"
        "| Peak working set of that process (pwsh, import, one Git assessment) | $(F $p '0') MB | - | - | <= $peakGoalMb MB | $(Met ($p -le $peakGoalMb)) |"
        "| Methods the JIT compiled for the first call | $(F (Get-Median $jit) '0') | - | - | - | - |"
        $toolRows
        ''
        $(if ($loadBefore) { "Load average (1, 5, 15 min) before / after: $loadBefore / $(Get-LoadAverage) on $([Environment]::ProcessorCount) processors; other work on the machine slows both sides, the fresh process most." ; '' })
        "Import-Module alone: $(F (Get-Median $import)) ms. PowerShell: $(Get-PwshKind). The module's hot-path assemblies carry ReadyToRun code for the platform it was built on (see docs/DESIGN-NOTES.md, ``Start-up``). PowerShell's release packages (deb, rpm, tar.gz, MSI, zip) are ReadyToRun too; the ``dotnet tool`` PowerShell this repository pins is IL only, so ``build.ps1 Bench`` runs the benchmarks on a ReadyToRun copy of it (compiled once with the build's crossgen2 into out/pwsh-r2r/), and the rows on the dotnet tool PowerShell show what a process pays when all of PowerShell's own start-up code is compiled at run time. What the JIT still compiles is generic instantiations over framework types, P/Invoke stubs and async state machines."
        ''
        'Reproduce: `dotnet pwsh build.ps1 Bench -Only Startup` (this section only).'
    )
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
