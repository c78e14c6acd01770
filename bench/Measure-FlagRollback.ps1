<#
.SYNOPSIS
    Feature-flag figure for docs/BENCHMARKS.md, on a real Unleash server (started here and stopped again): the time
    from Invoke-Rollback to the flag being off as the client API sees it, against a bare HTTP call doing the same.
    Returns the report's markdown lines, or a line saying why not. Expects the module imported by the caller.
#>
param([ValidateRange(1, 50)] [int] $Runs = 10)

$ErrorActionPreference = 'Stop'
$invariant = [Globalization.CultureInfo]::InvariantCulture
$unleash = & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Unleash.ps1')
if (-not $unleash.Available) { return @('', '## Feature flags', '', "Not measured: $($unleash.Reason).") }

function Get-Median([double[]] $values) { $s = [double[]]($values | Sort-Object); $m = [Math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }
$admin = @{ Authorization = $unleash.AdminToken }
$client = @{ Authorization = $unleash.ClientToken }
$flagUri = "$($unleash.Url)/api/admin/projects/$($unleash.Project)/features/new-checkout/environments/$($unleash.Environment)"
$state = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-flags-$PID"
$token = ConvertTo-SecureString $unleash.AdminToken -AsPlainText -Force

# Until the client API (the single-flag endpoint SDKs also read) reports the flag off; returns the elapsed ms.
function Wait-Off([Diagnostics.Stopwatch] $watch) {
    while ((Invoke-RestMethod "$($unleash.Url)/api/client/features/new-checkout" -Headers $client -SkipHeaderValidation).enabled) {
        if ($watch.Elapsed.TotalSeconds -gt 30) { throw 'The flag did not read off within 30 s.' }
    }
    $watch.Elapsed.TotalMilliseconds
}

try {
    $ours = [Collections.Generic.List[double]]::new()
    $bare = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Runs; $i++) {
        $null = Invoke-RestMethod -Method Post "$flagUri/on" -Headers $admin -SkipHeaderValidation
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-Rollback -Strategy FeatureFlag -Provider Unleash -Flag new-checkout -Uri $unleash.Url -Project $unleash.Project -Environment $unleash.Environment -ApiToken $token -StateDirectory $state -Confirm:$false
        if ($result.Outcome -ne 'Succeeded') { throw "Flag rollback $($result.Outcome): $($result.Message)" }
        $ours.Add((Wait-Off $watch))

        $null = Invoke-RestMethod -Method Post "$flagUri/on" -Headers $admin -SkipHeaderValidation
        $watch.Restart()
        $null = Invoke-RestMethod -Method Post "$flagUri/off" -Headers $admin -SkipHeaderValidation
        $bare.Add((Wait-Off $watch))
    }
    $o = Get-Median $ours
    $b = Get-Median $bare
    @(
        ''
        '## Feature flags'
        ''
        "Real Unleash 7.5.1 on PostgreSQL, on loopback; medians of $Runs alternating rounds, the flag switched back on between rounds."
        ''
        '| Measurement | DeploymentRollback | Bare HTTP call | Ratio ours/bare |'
        '|---|---:|---:|---:|'
        "| From the call to the flag reading off through the client API (``GET /api/client/features/<flag>``) | $($o.ToString('0.0', $invariant)) ms | $($b.ToString('0.0', $invariant)) ms | **$(($o / $b).ToString('0.00', $invariant))** |"
        ''
        "The bare call is one ``POST .../environments/<env>/off`` with ``Invoke-RestMethod``. Ours reads the flag first (to skip a flag already off and to record its state), checkpoints it, journals the attempt, switches it, reads it back, and writes ROLLBACK_STARTED and ROLLBACK_COMPLETE. SDKs that poll the whole list (``GET /api/client/features``) see either change about a second later: Unleash refreshes that list once a second."
    )
}
finally {
    Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    if ($unleash.Started) { & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Unleash.ps1') -Stop | Out-Null }
}
