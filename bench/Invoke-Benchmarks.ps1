#requires -Version 7.4
<#
.SYNOPSIS
    Measures the built module side by side with git and writes docs/BENCHMARKS.md.
.DESCRIPTION
    1. Import-Module time: -ImportRuns fresh child pwsh processes, each printing the milliseconds of
       Measure-Command { Import-Module <ModulePath> } and the third-party assemblies loaded right after import.
    2. Git assessment on a generated repository (-Commits commits, -Tags tags, see New-BenchRepository.ps1),
       in a warm session: Get-RollbackAssessment -Strategy Git against the four git processes that answer the
       same question (describe, tag list in version order, log since the previous release, status).
       Git runs twice a round: with & (as a script would; the compared figure) and through [Diagnostics.Process]
       (no native-command layer). Rounds alternate the sides so all see the same machine noise; medians of -Runs.
       Then the same on a 10-commit repository (the fixed cost).
    3. Containers (bench/Measure-DockerRollback.ps1, where a Docker engine runs): Compose rollback against doing it
       by hand, and a container's recreate-and-verify time with its share spent waiting for the health check.
    4. Feature flags (bench/Measure-FlagRollback.ps1, on a real Unleash server): time until the flag reads off through
       the client API, against a bare HTTP call.
    5. Database (bench/Measure-DatabaseRollback.ps1): each migration tool's rollback against running the tool directly.
    6. Kubernetes (bench/Measure-KubernetesRollback.ps1, on the fake API server): API requests and wall time of one
       Deployment rollback against kubectl rollout undo (and rollout status), and 100 Deployments by -Selector in a fresh
       pwsh (its peak working set and CPU time per Deployment against the goals).
    7. Start-up (bench/Measure-Startup.ps1): the first Git assessment in a fresh pwsh against git's four processes, and
       that process's peak working set.
    Everything is timed with [Diagnostics.Stopwatch] in this process, except the import, which is timed in
    the child itself (a child's start-up is not the module's cost). Temp folders are removed at the end.

    Run it through the build: dotnet tool restore; dotnet pwsh build.ps1 Bench
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Invoke-Benchmarks.ps1 -ModulePath out/DeploymentRollback/DeploymentRollback.psd1 -OutputPath docs/BENCHMARKS.md
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutputPath,
    [ValidateRange(100, 1000000)] [int] $Commits = 20000,
    [ValidateRange(2, 100000)] [int] $Tags = 2000,
    [ValidateRange(1, 100)] [int] $ImportRuns = 10,
    [ValidateRange(1, 100)] [int] $Runs = 10,
    # A measuring loop stops early (and says so) once it has used this many seconds.
    [ValidateRange(10, 600)] [int] $PhaseBudgetSec = 75,
    # Run one section's measurement only and replace that section in the existing report.
    [ValidateSet('Startup', 'Containers', 'FeatureFlags', 'Database', 'Kubernetes', 'StateStores', 'Plans', 'Metrics', 'Watch', 'Demo')] [string] $Only,
    # The dotnet tool PowerShell's pwsh.dll (IL only), compared in the start-up section with the PowerShell running this.
    [string] $ToolPwsh
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 3.0
$benchStarted = [Diagnostics.Stopwatch]::StartNew()
$invariant = [Globalization.CultureInfo]::InvariantCulture

$ModulePath = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
$OutputPath = [IO.Path]::GetFullPath($OutputPath, (Get-Location).ProviderPath)
[string] $work = Join-Path ([IO.Path]::GetTempPath()) ("deployment-rollback-bench-{0:yyyyMMddHHmmss}-{1}" -f [DateTime]::UtcNow, $PID)
[string] $repo = Join-Path $work 'repo'
[string] $state = Join-Path $work 'state'

function Write-Step([string] $text) { Write-Host "[$([int]$benchStarted.Elapsed.TotalSeconds) s] $text" }

# Medians, fresh pwsh processes like this one, and what kind of PowerShell this is.
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')

function Format-Ms([double] $ms) { $ms.ToString('0.0', $invariant) }

function Get-Summary([double[]] $values) {
    [pscustomobject]@{
        Median = Get-Median $values
        Min    = ($values | Measure-Object -Minimum).Minimum
        Max    = ($values | Measure-Object -Maximum).Maximum
        Count  = $values.Count
    }
}

# Runs a process with a time limit; returns its standard output (and throws on failure or time-out).
function Invoke-Bounded([string] $File, [string[]] $Arguments, [int] $TimeoutSec = 60) {
    $info = [Diagnostics.ProcessStartInfo]::new($File)
    foreach ($argument in $Arguments) { $info.ArgumentList.Add($argument) }
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    $info.WorkingDirectory = $work
    $info.Environment['NO_COLOR'] = '1' # plain error text from a child pwsh
    $process = [Diagnostics.Process]::Start($info)
    try {
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit($TimeoutSec * 1000)) {
            $process.Kill($true)
            throw "$File did not finish in $TimeoutSec s."
        }
        $process.WaitForExit()
        if ($process.ExitCode -ne 0) { throw "$File exited with $($process.ExitCode): $($stderr.Result)" }
        $stdout.Result
    }
    finally {
        if (-not $process.HasExited) { $process.Kill($true) }
        $process.Dispose()
    }
}

function Get-LoadAverage {
    if (Test-Path /proc/loadavg) { ((Get-Content -Raw /proc/loadavg) -split ' ')[0..2] -join ' ' }
}

function Get-MachineInfo {
    $os = [Runtime.InteropServices.RuntimeInformation]::OSDescription
    if (Test-Path /etc/os-release) {
        $pretty = Select-String -Path /etc/os-release -Pattern '^PRETTY_NAME="?([^"]*)"?' | Select-Object -First 1
        if ($pretty) { $os = $pretty.Matches[0].Groups[1].Value }
    }
    if (-not $IsWindows -and (Test-Path /proc/sys/kernel/osrelease)) { $os += ", kernel $((Get-Content -Raw /proc/sys/kernel/osrelease).Trim())" }
    $os += ", $([Runtime.InteropServices.RuntimeInformation]::OSArchitecture)".ToLowerInvariant()
    $cpu = $null
    if (Test-Path /proc/cpuinfo) {
        $model = Select-String -Path /proc/cpuinfo -Pattern '^model name\s*:\s*(.+)$' | Select-Object -First 1
        if ($model) { $cpu = $model.Matches[0].Groups[1].Value.Trim() }
    }
    [pscustomobject]@{
        Processors = [Environment]::ProcessorCount
        Cpu        = $cpu
        OS         = $os
        Pwsh       = $PSVersionTable.PSVersion.ToString()
        DotNet     = [Runtime.InteropServices.RuntimeInformation]::FrameworkDescription
        Git        = ((& git --version) -replace '^git version\s*', '').Trim()
    }
}

# One git process started straight through [Diagnostics.Process] (no PowerShell native-command layer); its output lines.
function Invoke-GitProcess([string[]] $Arguments) {
    $info = [Diagnostics.ProcessStartInfo]::new('git')
    foreach ($argument in $Arguments) { $info.ArgumentList.Add($argument) }
    $info.RedirectStandardOutput = $true
    $info.UseShellExecute = $false
    $process = [Diagnostics.Process]::Start($info)
    try {
        $text = $process.StandardOutput.ReadToEnd()
        if (-not $process.WaitForExit(30000)) { $process.Kill($true); throw "git $Arguments did not finish in 30 s." }
        if ($process.ExitCode -ne 0) { throw "git $Arguments exited with $($process.ExitCode)." }
    }
    finally { $process.Dispose() }
    , $text.Split("`n", [StringSplitOptions]::RemoveEmptyEntries)
}

# git answering the assessment's question. Each process invocation is timed; the PowerShell pick is timed apart.
# -Direct starts the processes through [Diagnostics.Process] instead of PowerShell's & (less overhead per process).
function Invoke-GitAssessment([string] $Path, [switch] $Direct) {
    $sw = [Diagnostics.Stopwatch]::new()
    $times = [ordered]@{}
    $run = {
        param([string] $name, [string[]] $arguments)
        $sw.Restart()
        if ($Direct) {
            $output = Invoke-GitProcess (@('-C', $Path) + $arguments)
        }
        else {
            $output = @(& git -C $Path @arguments)
            if ($LASTEXITCODE) { throw "$name failed with exit code $LASTEXITCODE" }
        }
        $times[$name] = $sw.Elapsed.TotalMilliseconds
        , [string[]]$output
    }

    $describe = (& $run 'git describe --tags HEAD' @('describe', '--tags', 'HEAD'))[0]
    $tagList = & $run 'git tag --list --sort=-v:refname' @('tag', '--list', '--sort=-v:refname')

    # The previous release in version order: below the current tag, or the nearest tag itself when HEAD is past it.
    $pick = [Diagnostics.Stopwatch]::StartNew()
    $exact = $describe -notmatch '^(?<tag>.+)-(?<count>[0-9]+)-g(?<sha>[0-9a-f]+)$'
    $base = if ($exact) { $describe } else { $Matches['tag'] }
    $index = [Array]::IndexOf($tagList, $base)
    $previous = if ($index -lt 0) { $null } elseif ($exact) { if ($index + 1 -lt $tagList.Count) { $tagList[$index + 1] } } else { $tagList[$index] }
    $pickMs = $pick.Elapsed.TotalMilliseconds
    if (-not $previous) { throw "git: no release before '$describe' among $($tagList.Count) tags." }

    $log = & $run 'git log --oneline <previous>..HEAD -n 50' @('log', '--oneline', "$previous..HEAD", '-n', '50')
    $status = & $run 'git status --porcelain' @('status', '--porcelain')

    [pscustomobject]@{
        TotalMs         = ($times.Values | Measure-Object -Sum).Sum
        Times           = $times
        PickMs          = $pickMs
        CurrentVersion  = [string]$describe
        LastGoodVersion = [string]$previous
        Changes         = @($log)
        Dirty           = $status.Count -gt 0
    }
}

function Invoke-OursAssessment([string] $Path) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $assessment = Get-RollbackAssessment -Strategy Git -Path $Path -StateDirectory $state
    $ms = $sw.Elapsed.TotalMilliseconds
    [pscustomobject]@{ TotalMs = $ms; Assessment = $assessment }
}

# "v1.2.3-4-gabcdef1" -> tag and distance; the abbreviated id's length differs between git (scaled) and libgit2 (7).
function Split-Describe([string] $text, [string] $headSha) {
    if ($text -match '^(?<tag>.+)-(?<count>[0-9]+)-g(?<sha>[0-9a-f]+)$') {
        [pscustomobject]@{ Tag = $Matches['tag']; Count = [int]$Matches['count']; IdMatchesHead = $headSha.StartsWith($Matches['sha']) }
    }
    else {
        [pscustomobject]@{ Tag = $text; Count = 0; IdMatchesHead = $true }
    }
}

New-Item -ItemType Directory -Force $work, $state | Out-Null
$results = [ordered]@{}
# The measuring script of each section the report has beyond the Git and import figures.
$sectionScripts = [ordered]@{
    Startup      = { & (Join-Path $PSScriptRoot 'Measure-Startup.ps1') -Runs ([Math]::Min($Runs, 5)) -Commits $Commits -Tags $Tags -ToolPwsh $ToolPwsh }
    Containers   = { & (Join-Path $PSScriptRoot 'Measure-DockerRollback.ps1') -Runs ([Math]::Min($Runs, 5)) }
    # At least 20 rounds: single calls of 15-30 ms spread widely here, and medians of 10 moved the ratio by 0.3 between runs.
    FeatureFlags = { & (Join-Path $PSScriptRoot 'Measure-FlagRollback.ps1') -Runs ([Math]::Max($Runs, 20)) }
    Database     = { & (Join-Path $PSScriptRoot 'Measure-DatabaseRollback.ps1') -Runs ([Math]::Min($Runs, 5)) }
    Kubernetes   = { & (Join-Path $PSScriptRoot 'Measure-KubernetesRollback.ps1') -Runs ([Math]::Min($Runs, 5)) }
    StateStores  = { & (Join-Path $PSScriptRoot 'Measure-StateStores.ps1') -Runs ([Math]::Max($Runs, 20)) }
    Plans        = { & (Join-Path $PSScriptRoot 'Measure-Plans.ps1') -Runs ([Math]::Min($Runs, 7)) }
    Metrics      = { & (Join-Path $PSScriptRoot 'Measure-Metrics.ps1') -Runs ([Math]::Min($Runs, 5)) }
    Watch        = { & (Join-Path $PSScriptRoot 'Measure-Watch.ps1') -Runs ([Math]::Min($Runs, 5)) }
    Demo         = { & (Join-Path $PSScriptRoot 'Measure-Demo.ps1') -Runs ([Math]::Min($Runs, 5)) }
}

if ($Only) {
    # One section: measured now, put in place of the same section (its '## ' heading up to the next one) in the report.
    Import-Module $ModulePath
    try {
        $section = @(& $sectionScripts[$Only] | Where-Object { $null -ne $_ })
        $heading = $section | Where-Object { $_ -like '## *' } | Select-Object -First 1
        $report = if (Test-Path $OutputPath) { [IO.File]::ReadAllText($OutputPath) } else { "# Benchmarks`n`n## Method`n" }
        $text = ($section -join "`n").Trim("`n") + "`n`n"
        $start = $report.IndexOf("`n$heading`n")
        if ($start -ge 0) {
            $end = $report.IndexOf("`n## ", $start + $heading.Length + 1)
            $report = $report.Substring(0, $start + 1) + $text + $(if ($end -ge 0) { $report.Substring($end + 1) } else { '' })
        }
        else {
            $method = $report.IndexOf("`n## Method")
            $report = if ($method -ge 0) { $report.Substring(0, $method + 1) + $text + $report.Substring($method + 1) } else { $report.TrimEnd() + "`n`n" + $text }
        }
        [IO.File]::WriteAllText($OutputPath, $report, [Text.UTF8Encoding]::new($false))
        Write-Step "Replaced the section '$heading' in $OutputPath"
    }
    finally { Remove-Module DeploymentRollback -ErrorAction SilentlyContinue }
    return
}


try {
    $machine = Get-MachineInfo
    $loadBefore = Get-LoadAverage
    $manifest = Import-PowerShellDataFile $ModulePath
    Write-Step "Machine: $($machine.Processors) processors, $($machine.OS), pwsh $($machine.Pwsh), git $($machine.Git)"

    # 1. Import-Module in fresh processes.
    $pwsh = Get-PwshCommand
    $quotedModule = "'" + ($ModulePath -replace "'", "''") + "'"
    $childScript = @"
`$ErrorActionPreference = 'Stop'
`$ms = (Measure-Command { Import-Module $quotedModule }).TotalMilliseconds
`$loaded = @([DeploymentRollback.Commands.InternalHooks]::LoadedThirdPartyAssemblies())
[Console]::Out.WriteLine((ConvertTo-Json -Compress -InputObject @{ ms = `$ms; loaded = `$loaded }))
"@
    $importMs = [Collections.Generic.List[double]]::new()
    $processMs = [Collections.Generic.List[double]]::new()
    $loadedAfterImport = [Collections.Generic.HashSet[string]]::new()
    $phase = [Diagnostics.Stopwatch]::StartNew()
    for ($i = 1; $i -le $ImportRuns; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $output = Invoke-Bounded $pwsh.Exe (@($pwsh.Arguments) + @('-NoProfile', '-NonInteractive', '-Command', $childScript)) -TimeoutSec 60
        $processMs.Add($sw.Elapsed.TotalMilliseconds)
        $line = ($output -split "`n" | Where-Object { $_ -match '^\{' } | Select-Object -Last 1)
        if (-not $line) { throw "The import child printed no result: $output" }
        $child = $line | ConvertFrom-Json
        $importMs.Add([double]$child.ms)
        foreach ($name in @($child.loaded)) { if ($name) { $null = $loadedAfterImport.Add($name) } }
        if ($phase.Elapsed.TotalSeconds -gt $PhaseBudgetSec) { Write-Step "Import: time budget used after $i runs"; break }
    }
    $results.Import = Get-Summary $importMs
    $results.ImportProcess = Get-Summary $processMs
    $results.Loaded = @($loadedAfterImport | Sort-Object)
    Write-Step ("Import-Module: median {0} ms (min {1}, max {2}) over {3} fresh processes; third-party assemblies loaded: {4}" -f
        (Format-Ms $results.Import.Median), (Format-Ms $results.Import.Min), (Format-Ms $results.Import.Max), $results.Import.Count,
        ($(if ($results.Loaded.Count) { $results.Loaded -join ', ' } else { 'none' })))

    # 2. The repository.
    Write-Step "Creating a repository of $Commits commits and $Tags tags with git fast-import"
    $created = & (Join-Path $PSScriptRoot 'New-BenchRepository.ps1') -Path $repo -Commits $Commits -Tags $Tags
    Write-Step "Repository ready in $($created.Seconds) s: HEAD $($created.HeadCommit.Substring(0, 10)), highest tag $($created.HighestTag)"
    $headSha = $created.HeadCommit

    # What the other orders would pick (not timed): the reason the tags must be read in version order.
    $byName = @(& git -C $repo tag --list --sort=-refname)[0]
    $byDate = @(& git -C $repo for-each-ref --sort=-creatordate --format='%(refname:short)' refs/tags)[0]
    $byVersion = @(& git -C $repo tag --list --sort=-v:refname)[0]

    # 3. Warm session: the module imported here, one warm-up call of each, then alternating runs.
    Import-Module $ModulePath
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $oursFirst = Invoke-OursAssessment $repo
    $results.OursFirstMs = $sw.Elapsed.TotalMilliseconds
    $gitFirst = Invoke-GitAssessment $repo
    $results.GitFirstMs = $gitFirst.TotalMs
    $null = Invoke-GitAssessment $repo -Direct

    $oursMs = [Collections.Generic.List[double]]::new()
    $gitMs = [Collections.Generic.List[double]]::new()
    $gitPickMs = [Collections.Generic.List[double]]::new()
    $gitDirectMs = [Collections.Generic.List[double]]::new()
    $gitCommandMs = [ordered]@{}
    $gitDirectCommandMs = [ordered]@{}
    $phase.Restart()
    for ($i = 1; $i -le $Runs; $i++) {
        $ours = Invoke-OursAssessment $repo
        $oursMs.Add($ours.TotalMs)
        $git = Invoke-GitAssessment $repo
        $gitMs.Add($git.TotalMs)
        $gitPickMs.Add($git.PickMs)
        foreach ($name in $git.Times.Keys) {
            if (-not $gitCommandMs.Contains($name)) { $gitCommandMs[$name] = [Collections.Generic.List[double]]::new() }
            $gitCommandMs[$name].Add($git.Times[$name])
        }
        $direct = Invoke-GitAssessment $repo -Direct
        $gitDirectMs.Add($direct.TotalMs)
        foreach ($name in $direct.Times.Keys) {
            if (-not $gitDirectCommandMs.Contains($name)) { $gitDirectCommandMs[$name] = [Collections.Generic.List[double]]::new() }
            $gitDirectCommandMs[$name].Add($direct.Times[$name])
        }
        if ($direct.CurrentVersion -ne $git.CurrentVersion -or $direct.LastGoodVersion -ne $git.LastGoodVersion) { throw 'git gave different answers through & and through Process.Start.' }
        if ($phase.Elapsed.TotalSeconds -gt $PhaseBudgetSec) { Write-Step "Assessment: time budget used after $i runs"; break }
    }
    $results.Ours = Get-Summary $oursMs
    $results.Git = Get-Summary $gitMs
    $results.GitPick = Get-Summary $gitPickMs
    $results.GitDirect = Get-Summary $gitDirectMs
    $results.Ratio = $results.Ours.Median / $results.Git.Median
    $results.RatioDirect = $results.Ours.Median / $results.GitDirect.Median
    Write-Step ("Assessment: ours median {0} ms; git median {1} ms through & (ratio {2}), {3} ms through Process.Start (ratio {4})" -f (Format-Ms $results.Ours.Median),
        (Format-Ms $results.Git.Median), $results.Ratio.ToString('0.00', $invariant), (Format-Ms $results.GitDirect.Median), $results.RatioDirect.ToString('0.00', $invariant))

    # The fixed cost: the same question on a tiny repository (10 commits, 2 tags), so what grows with the repository shows.
    $tinyRepo = Join-Path $work 'tiny'
    $null = & (Join-Path $PSScriptRoot 'New-BenchRepository.ps1') -Path $tinyRepo -Commits 10 -Tags 2
    $null = Invoke-OursAssessment $tinyRepo
    $null = Invoke-GitAssessment $tinyRepo
    $tinyOursMs = [Collections.Generic.List[double]]::new()
    $tinyGitMs = [Collections.Generic.List[double]]::new()
    for ($i = 1; $i -le $Runs; $i++) {
        $tinyOurs = Invoke-OursAssessment $tinyRepo
        $tinyOursMs.Add($tinyOurs.TotalMs)
        $tinyGit = Invoke-GitAssessment $tinyRepo
        $tinyGitMs.Add($tinyGit.TotalMs)
        if ($phase.Elapsed.TotalSeconds -gt $PhaseBudgetSec) { Write-Step "Tiny assessment: time budget used after $i runs"; break }
    }
    $results.TinyOurs = Get-Summary $tinyOursMs
    $results.TinyGit = Get-Summary $tinyGitMs
    if ($tinyOurs.Assessment.LastGoodVersion -ne $tinyGit.LastGoodVersion) { throw "On the tiny repository ours says $($tinyOurs.Assessment.LastGoodVersion), git $($tinyGit.LastGoodVersion)." }
    Write-Step ("Tiny repository: ours median {0} ms, git median {1} ms" -f (Format-Ms $results.TinyOurs.Median), (Format-Ms $results.TinyGit.Median))

    # Do both answer the same?
    $a = $ours.Assessment
    $oursDescribe = Split-Describe $a.CurrentVersion $headSha
    $gitDescribe = Split-Describe $git.CurrentVersion $headSha
    $oursChanges = @($a.Changes | ForEach-Object { ($_ -split ' ', 2)[0] })
    $gitChanges = @($git.Changes | ForEach-Object { ($_ -split ' ', 2)[0] })
    $sameChanges = $oursChanges.Count -eq $gitChanges.Count
    for ($i = 0; $sameChanges -and $i -lt $oursChanges.Count; $i++) {
        $sameChanges = $gitChanges[$i].StartsWith($oursChanges[$i]) -or $oursChanges[$i].StartsWith($gitChanges[$i])
    }
    $agreement = @(
        [pscustomobject]@{ Item = 'Current version'; Ours = $a.CurrentVersion; Git = $git.CurrentVersion
            Agree = $oursDescribe.Tag -eq $gitDescribe.Tag -and $oursDescribe.Count -eq $gitDescribe.Count -and $oursDescribe.IdMatchesHead -and $gitDescribe.IdMatchesHead }
        [pscustomobject]@{ Item = 'Last good version'; Ours = $a.LastGoodVersion; Git = $git.LastGoodVersion; Agree = $a.LastGoodVersion -eq $git.LastGoodVersion }
        [pscustomobject]@{ Item = 'Commits since it'; Ours = "$($oursChanges.Count)"; Git = "$($gitChanges.Count)"; Agree = $sameChanges }
        [pscustomobject]@{ Item = 'Uncommitted changes'; Ours = "$($a.HasUncommittedChanges)"; Git = "$($git.Dirty)"; Agree = $a.HasUncommittedChanges -eq $git.Dirty }
    )
    $results.Agree = -not ($agreement | Where-Object { -not $_.Agree })
    Write-Step ("Agreement: current {0} / {1}; last good {2} / {3}; {4}" -f $a.CurrentVersion, $git.CurrentVersion, $a.LastGoodVersion, $git.LastGoodVersion, $(if ($results.Agree) { 'both agree' } else { 'THEY DISAGREE' }))

    # 4. The report.
    $loadAfter = Get-LoadAverage
    $importGoal = 150
    $importMet = $results.Import.Median -le $importGoal
    $ratioMet = $results.Ratio -le 1.0
    $loadedText = if ($results.Loaded.Count) { ($results.Loaded | ForEach-Object { "``$_``" }) -join ', ' } else { 'none' }
    $yesNo = { param($ok) if ($ok) { 'yes' } else { '**no**' } }
    $md = [Text.StringBuilder]::new()
    $lines = @(
        '# Benchmarks'
        ''
        "Written by ``bench/Invoke-Benchmarks.ps1`` on $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm', $invariant)) UTC, DeploymentRollback $($manifest.ModuleVersion). Figures are from one run on one machine: compare them with each other, not across machines."
        ''
        '## Machine'
        ''
        '| | |'
        '|---|---|'
        "| Processors (nproc) | $($machine.Processors) |"
        $(if ($machine.Cpu) { "| CPU | $($machine.Cpu) |" })
        "| OS | $($machine.OS) |"
        "| PowerShell | $($machine.Pwsh) ($($machine.DotNet)), $(Get-PwshKind) |"
        "| git | $($machine.Git) |"
        $(if ($loadBefore) { "| Load average (1, 5, 15 min) before / after | $loadBefore / $loadAfter (other work on the machine makes the figures noisier) |" })
        ''
        '## Results'
        ''
        '| Measurement | DeploymentRollback | git | Ratio ours/git | Goal | Met |'
        '|---|---:|---:|---:|---|---|'
        ("| Import-Module, fresh process (median of {0}; min-max) | {1} ms ({2}-{3}) | - | - | <= {4} ms | {5} |" -f $results.Import.Count, (Format-Ms $results.Import.Median), (Format-Ms $results.Import.Min), (Format-Ms $results.Import.Max), $importGoal, (& $yesNo $importMet))
        ("| Third-party assemblies loaded right after import | {0} | - | - | none | {1} |" -f $loadedText, (& $yesNo ($results.Loaded.Count -eq 0)))
        ("| Git assessment, {0:N0} commits / {1:N0} tags, warm (median of {2}; min-max); git run with ``&`` | {3} ms ({4}-{5}) | {6} ms ({7}-{8}) | **{9}** | <= 1.00 | {10} |" -f $Commits, $Tags, $results.Ours.Count,
            (Format-Ms $results.Ours.Median), (Format-Ms $results.Ours.Min), (Format-Ms $results.Ours.Max),
            (Format-Ms $results.Git.Median), (Format-Ms $results.Git.Min), (Format-Ms $results.Git.Max), $results.Ratio.ToString('0.00', $invariant), (& $yesNo $ratioMet))
        ("| The same, git started through ``[Diagnostics.Process]`` (less overhead per process) | {0} ms | {1} ms ({2}-{3}) | {4} | <= 1.00 | {5} |" -f
            (Format-Ms $results.Ours.Median), (Format-Ms $results.GitDirect.Median), (Format-Ms $results.GitDirect.Min), (Format-Ms $results.GitDirect.Max), $results.RatioDirect.ToString('0.00', $invariant), (& $yesNo ($results.RatioDirect -le 1.0)))
        ("| Git assessment, 10 commits / 2 tags, warm (median of {0}; min-max): the fixed cost | {1} ms ({2}-{3}) | {4} ms ({5}-{6}) | {7} | - | - |" -f $results.TinyOurs.Count,
            (Format-Ms $results.TinyOurs.Median), (Format-Ms $results.TinyOurs.Min), (Format-Ms $results.TinyOurs.Max),
            (Format-Ms $results.TinyGit.Median), (Format-Ms $results.TinyGit.Min), (Format-Ms $results.TinyGit.Max), ($results.TinyOurs.Median / $results.TinyGit.Median).ToString('0.00', $invariant))
        ("| Git assessment, {0:N0} commits / {1:N0} tags, first call after import (the warm-up, 1 run) | {2} ms | {3} ms | {4} | - | - |" -f $Commits, $Tags, (Format-Ms $results.OursFirstMs), (Format-Ms $results.GitFirstMs), ($results.OursFirstMs / $results.GitFirstMs).ToString('0.00', $invariant))
        ''
        ("For context: a whole child process (pwsh start-up, import, exit) took {0} ms (median), so the import is {1:P0} of a cold ``pwsh -Command`` that uses the module." -f (Format-Ms $results.ImportProcess.Median), ($results.Import.Median / $results.ImportProcess.Median))
        ''
        '### The git side, per process (medians)'
        ''
        '| git command | Through `&` | Through `[Diagnostics.Process]` |'
        '|---|---:|---:|'
    )
    foreach ($name in $gitCommandMs.Keys) { $lines += "| ``$name`` | $(Format-Ms (Get-Median $gitCommandMs[$name])) ms | $(Format-Ms (Get-Median $gitDirectCommandMs[$name])) ms |" }
    $lines += "| **Sum of the four processes** (the figure compared; median of the sums) | **$(Format-Ms $results.Git.Median) ms** | **$(Format-Ms $results.GitDirect.Median) ms** |"
    $lines += "| Picking the previous release from the list, in PowerShell (not counted) | $(Format-Ms $results.GitPick.Median) ms | |"
    $lines += @(
        ''
        '### Both give the same answer'
        ''
        '| | DeploymentRollback | git | Agree |'
        '|---|---|---|---|'
    )
    foreach ($row in $agreement) { $lines += "| $($row.Item) | ``$($row.Ours)`` | ``$($row.Git)`` | $(& $yesNo $row.Agree) |" }
    $lines += @(
        ''
        "The abbreviated commit id in the current version differs in length only: git scales it with the object count, libgit2 uses at least 7 characters; both name HEAD ($($headSha.Substring(0, 10))...)."
        "Version order matters here: by name the highest tag would be ``$byName``, by creation date ``$byDate``; in version order it is ``$byVersion``."
    )
    # Each section is measured only where its components run (the Docker engine, Unleash, the migration tools,
    # kubectl, PostgreSQL and Azurite); otherwise it says why not.
    foreach ($measure in $sectionScripts.Values) {
        $sectionLines = & $measure
        if ($sectionLines) { $lines += $sectionLines }
    }
    $lines += @(
        ''
        '## Method'
        ''
        "- **Import**: $($results.Import.Count) fresh child processes, each ``pwsh -NoProfile -NonInteractive -Command`` running ``Measure-Command { Import-Module <built psd1> }`` and printing the milliseconds, then ``[DeploymentRollback.Commands.InternalHooks]::LoadedThirdPartyAssemblies()``. The child's own start-up is not counted. The pwsh is the one running the benchmark (``$($pwsh.Exe) $($pwsh.Arguments -join ' ')``; $(Get-PwshKind))."
        "- **Repository**: ``bench/New-BenchRepository.ps1`` writes one ``git fast-import`` stream: a linear history of $('{0:N0}' -f $Commits) commits on ``main``, each changing one small file (100 files in turn), a lightweight tag every $([int][Math]::Floor($Commits / $Tags)) commits (v1.0.0 ... $($created.HighestTag), 20 patches a minor, 10 minors a major), refs packed, HEAD checked out 3 commits past the highest tag, working tree clean. A few tagged commits carry a committer date later than the next release's, so creation-date order is not version order; name order is not either (v9.x sorts above v10.x). Created in $($created.Seconds) s."
        "- **Assessment**: in this process, module imported, one warm-up call of each side, then $($results.Ours.Count) alternating rounds (ours, git through ``&``, git through ``[Diagnostics.Process]``, ...), timed with ``[Diagnostics.Stopwatch]``. Ours is ``Get-RollbackAssessment -Strategy Git -Path <repo> -StateDirectory <temp>``: current version (nearest tag), last good version (previous release tag in version order; none is recorded as verified-good), the commits since it (up to 50) and the dirty status. Git is the sum of four processes answering the same: ``git describe --tags HEAD``, ``git tag --list --sort=-v:refname`` (the previous release picked from it in PowerShell, not counted), ``git log --oneline <previous>..HEAD -n 50`` and ``git status --porcelain``, run with ``&`` as a script would (the compared figure), and again started straight through ``[Diagnostics.Process]``, which skips PowerShell's native-command layer."
        "- **Fixed cost**: the same two sides, $($results.TinyOurs.Count) alternating rounds, on a repository of 10 commits and 2 tags made the same way: what a call costs whatever the repository's size."
        '- Medians, with min-max. Temp folders are removed at the end.'
        ''
        '## Reproduce'
        ''
        '```powershell'
        'dotnet tool restore'
        'dotnet pwsh build.ps1 Bench'
        '```'
        ''
        "Or, against an already built module: ``dotnet pwsh bench/Invoke-Benchmarks.ps1 -ModulePath out/DeploymentRollback/DeploymentRollback.psd1 -OutputPath docs/BENCHMARKS.md [-Commits $Commits] [-Tags $Tags]``. The whole run took $([int]$benchStarted.Elapsed.TotalSeconds) s here."
    )
    foreach ($line in $lines) { if ($null -ne $line) { $null = $md.Append($line).Append("`n") } }
    New-Item -ItemType Directory -Force (Split-Path $OutputPath) | Out-Null
    [IO.File]::WriteAllText($OutputPath, $md.ToString(), [Text.UTF8Encoding]::new($false))
    Write-Step "Wrote $OutputPath"
    if (-not $results.Agree) { throw 'DeploymentRollback and git disagree on the assessment; see the report.' }
}
finally {
    Remove-Module DeploymentRollback -ErrorAction SilentlyContinue
    if (Test-Path $work) { Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue }
    if (Test-Path $work) { Write-Warning "Could not remove $work" }
}
