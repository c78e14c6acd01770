#requires -Version 7.4
<#
.SYNOPSIS
    Creates a large git repository for the benchmarks, fast, with one `git fast-import` stream.
.DESCRIPTION
    A linear history of -Commits commits on branch main, each changing one small file (src/file<NN>.txt,
    100 files in turn), with a lightweight release tag every Commits/Tags commits. The newest tag is the
    highest version and HEAD is -CommitsPastLastTag commits past it; the working tree is checked out and clean.

    Versions increase along history: v1.0.0, v1.0.1 ... v1.0.19, v1.1.0 ... v1.9.19, v2.0.0 ... (20 patches a
    minor, 10 minors a major), so name order is not version order (v9.9.19 sorts above v10.9.19 by name).
    A few tagged commits (every 250th release, and the second highest one) carry a committer date later than
    the next release's, as clock skew or a rebase leaves them, so the tags' creation-date order
    (git tag --sort=-creatordate) is not version order either. Only version order finds the right release.

    Writes a summary object: Path, Commits, Tags, HighestTag, HeadCommit, Seconds.
.EXAMPLE
    ./bench/New-BenchRepository.ps1 -Path /tmp/bench-repo -Commits 20000 -Tags 2000
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Path,
    [ValidateRange(2, 1000000)] [int] $Commits = 20000,
    [ValidateRange(1, 100000)] [int] $Tags = 2000,
    [ValidateRange(0, 1000)] [int] $CommitsPastLastTag = 3,
    [ValidateRange(1, 3600)] [int] $TimeoutSec = 300
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$started = [Diagnostics.Stopwatch]::StartNew()

$interval = [int][Math]::Floor($Commits / $Tags)
if ($interval -lt 1) { throw "-Tags ($Tags) cannot exceed -Commits ($Commits): a tag every Commits/Tags commits needs at least one commit per tag." }
$lastTagged = $Commits - 1 - $CommitsPastLastTag
$firstTagged = $lastTagged - ($Tags - 1) * $interval
if ($firstTagged -lt 0) { throw "$Tags tags every $interval commits with HEAD $CommitsPastLastTag commits past the last do not fit in $Commits commits; lower -CommitsPastLastTag." }

$Path = [IO.Path]::GetFullPath($Path)
if (Test-Path $Path) {
    if (Get-ChildItem -Force $Path | Select-Object -First 1) { throw "'$Path' exists and is not empty." }
}
else {
    New-Item -ItemType Directory $Path | Out-Null
}

function Invoke-Git {
    $output = & git -C $Path @args 2>&1
    if ($LASTEXITCODE -ne 0) { throw "git $($args -join ' ') failed with exit code ${LASTEXITCODE}: $output" }
    $output
}

function Get-TagName([int] $index) {
    # 20 patches a minor, 10 minors a major: v1.0.0 .. v1.0.19, v1.1.0 .. v1.9.19, v2.0.0 ...
    "v$(1 + [Math]::Floor($index / 200)).$([Math]::Floor($index / 20) % 10).$($index % 20)"
}

Invoke-Git init --quiet --initial-branch=main | Out-Null

# Which commit each tag goes on, and which tagged commits get a skewed (later) committer date.
$tagAt = @{}
$skewed = @{}
for ($k = 0; $k -lt $Tags; $k++) {
    $commitIndex = [int]($firstTagged + $k * $interval)
    $tagAt[$commitIndex] = Get-TagName $k
    if ($k -lt $Tags - 1 -and ($k % 250 -eq 248 -or $k -eq $Tags - 2)) {
        # Dated 30 s after the next release's commit, which is $interval commits (one minute each) later.
        $skewed[$commitIndex] = ($interval * 60) + 30
    }
}

# The fast-import stream, written straight to git's standard input. ASCII only, so characters are bytes.
$baseEpoch = 1577836800 # 2020-01-01T00:00:00Z, one commit a minute
$info = [Diagnostics.ProcessStartInfo]::new('git')
foreach ($argument in '-C', $Path, 'fast-import', '--quiet', '--done') { $info.ArgumentList.Add($argument) }
$info.RedirectStandardInput = $true
$info.RedirectStandardError = $true
$info.RedirectStandardOutput = $true
$info.UseShellExecute = $false
$process = [Diagnostics.Process]::Start($info)
$stderrTask = $process.StandardError.ReadToEndAsync()
$stdoutTask = $process.StandardOutput.ReadToEndAsync()
try {
    $writer = [IO.StreamWriter]::new($process.StandardInput.BaseStream, [Text.UTF8Encoding]::new($false), 1MB)
    $writer.NewLine = "`n"
    $sb = [Text.StringBuilder]::new(4096)
    for ($i = 0; $i -lt $Commits; $i++) {
        $epoch = $baseEpoch + 60 * $i
        if ($skewed.ContainsKey($i)) { $epoch += $skewed[$i] }
        $file = 'src/file{0:D2}.txt' -f ($i % 100)
        $message = if ($tagAt.ContainsKey($i)) { "Release $($tagAt[$i])`n" } else { "Change $file (commit $($i + 1))`n" }
        $content = "file $($i % 100)`nrevision $($i + 1)`n"
        $null = $sb.Clear().
            Append("commit refs/heads/main`n").
            Append("mark :").Append($i + 1).Append("`n").
            Append("author Bench Author <bench@example.invalid> ").Append($epoch).Append(" +0000`n").
            Append("committer Bench Committer <bench@example.invalid> ").Append($epoch).Append(" +0000`n").
            Append("data ").Append($message.Length).Append("`n").Append($message).
            Append("M 100644 inline ").Append($file).Append("`n").
            Append("data ").Append($content.Length).Append("`n").Append($content).Append("`n")
        $writer.Write($sb.ToString())
    }
    foreach ($commitIndex in $tagAt.Keys) {
        $writer.Write("reset refs/tags/$($tagAt[$commitIndex])`nfrom :$($commitIndex + 1)`n`n")
    }
    $writer.Write("done`n")
    $writer.Flush()
    $writer.Dispose()
    if (-not $process.WaitForExit($TimeoutSec * 1000)) {
        $process.Kill($true)
        throw "git fast-import did not finish in $TimeoutSec s."
    }
    $process.WaitForExit()
    if ($process.ExitCode -ne 0) { throw "git fast-import failed with exit code $($process.ExitCode): $($stderrTask.Result)$($stdoutTask.Result)" }
}
finally {
    if (-not $process.HasExited) { $process.Kill($true) }
    $process.Dispose()
}

# Refs packed as in a clone; then the working tree and index of the newest commit, on branch main.
Invoke-Git pack-refs --all | Out-Null
Invoke-Git checkout --force --quiet main | Out-Null
$status = Invoke-Git status --porcelain
if ($status) { throw "The new repository's working tree is not clean: $status" }
$count = [int](Invoke-Git rev-list --count HEAD)
if ($count -ne $Commits) { throw "Expected $Commits commits on main, found $count." }

[pscustomobject]@{
    Path       = $Path
    Commits    = $Commits
    Tags       = $Tags
    HighestTag = Get-TagName ($Tags - 1)
    HeadCommit = [string](Invoke-Git rev-parse HEAD)
    Seconds    = [Math]::Round($started.Elapsed.TotalSeconds, 1)
}
