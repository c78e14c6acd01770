BeforeDiscovery {
    # Debian's chromium opens the pages headless; without it these tests skip, except in CI, where they must fail.
    $chromium = @('/usr/bin/chromium', '/usr/bin/chromium-browser') | Where-Object { Test-Path $_ } | Select-Object -First 1
    $skipBrowser = -not $chromium -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $chromium = @('/usr/bin/chromium', '/usr/bin/chromium-browser') | Where-Object { Test-Path $_ } | Select-Object -First 1
    # Headless, with the browser's own background traffic off, so what the net log holds is the page's.
    $quiet = '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-sync', '--disable-default-apps', "--user-data-dir=$(Join-Path $TestDrive 'chromium-profile')"
    function Invoke-Chromium([string[]] $arguments) { & $chromium @quiet @arguments 2>$null }
    # Chromium's own services (time, updates, accounts) are not the page's requests.
    function Get-PageRequests([string] $netLog) {
        @(([regex]::Matches((Get-Content -Raw $netLog), '"url":"(https?://[^"]+)"') | ForEach-Object { $_.Groups[1].Value }) |
            Where-Object { ([Uri]$_).Host -notmatch '(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)$' } | Sort-Object -Unique)
    }
}

Describe 'The HTML incident report in a real browser' -Skip:$skipBrowser {
    BeforeAll {
        # A failed release of a Git-deployed app: a failure signal, an assessment, a rollback with a restart and a
        # health check, and a reason that carries a password the page must not show.
        $root = Join-Path $TestDrive 'incident'
        $state = Join-Path $root 'state'
        $repo = New-TestRepository (Join-Path $root 'repo')
        $server = Start-TestHttpServer
        Invoke-TestGit $repo checkout --quiet v2.3.0 | Out-Null
        $null = Test-RollbackHealth -Strategy Git -Path $repo -Uri $server.Uri -RecordVerified -StateDirectory $state
        Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
        $target = "git:$repo"
        $null = Send-RollbackSignal DEPLOYMENT_FAILED -TargetKey $target -Data @{ failure_type = 'HealthCheckFailed' } -Reason 'db login failed: password=hunter2-page-secret' -StateDirectory $state
        Start-Sleep -Milliseconds 300
        $null = Get-RollbackAssessment -Strategy Git -Path $repo -StateDirectory $state
        $result = Invoke-Rollback -Strategy Git -Path $repo -RestartScript { Start-Sleep -Milliseconds 200 } -HealthCheckUri $server.Uri -StateDirectory $state -Confirm:$false
        $report = $result | New-RollbackIncidentReport -Format Html
        $page = "file://$($report.HtmlPath)"
        $netLog = Join-Path $TestDrive 'net.json'
        $dom = (Invoke-Chromium @("--log-net-log=$netLog", '--dump-dom', $page)) -join "`n"
    }

    AfterAll { Stop-TestHttpServer $server }

    It 'is written beside the Markdown and JSON, and shows the outcome, every phase mark and the derived times' {
        $result.Outcome | Should -Be 'Succeeded'
        $report.HtmlPath | Should -Be ([IO.Path]::ChangeExtension($report.MarkdownPath, '.html'))
        $dom | Should -Match 'id="outcome"[^>]*>Succeeded<'
        foreach ($mark in 'failure', 'decision', 'started', 'verified', 'complete') { $dom | Should -Match "data-mark=`"$mark`"" }
        foreach ($time in 'to-decide', 'to-roll-back', 'to-recovery') { $dom | Should -Match "data-duration=`"$time`"><b>\d+\.\d+ s</b>" }
        $recovery = $result.TimeToRecovery.TotalSeconds
        $dom | Should -Match ([regex]::Escape("$($recovery.ToString($(if ($recovery -lt 10) { '0.00' } else { '0.0' }), [cultureinfo]::InvariantCulture)) s</b>to recovery"))
        foreach ($step in $result.Steps.Name) { $dom | Should -Match ('data-step="' + [regex]::Escape([Net.WebUtility]::HtmlEncode($step)) + '"') }
        $dom | Should -Match 'data-component="git:'
        $dom | Should -Match 'v2\.3\.1'
        $dom | Should -Match 'id="checklist"'
    }

    It 'never shows the secret and asks nothing of the network' {
        Get-Content -Raw $report.HtmlPath | Should -Not -Match 'hunter2-page-secret'
        $dom | Should -Not -Match '<script|<link|<img|<iframe|@import|url\('
        $dom | Should -Not -Match '(src|href)="https?:'
        Get-PageRequests $netLog | Should -BeNullOrEmpty
    }

    It 'renders on screen and in print' {
        $png = Join-Path $TestDrive 'report.png'
        $null = Invoke-Chromium @('--window-size=1100,2000', "--screenshot=$png", $page)
        $bytes = [IO.File]::ReadAllBytes($png)
        $bytes.Length | Should -BeGreaterThan 20000
        [Text.Encoding]::ASCII.GetString($bytes, 1, 3) | Should -Be 'PNG'
        $pdf = Join-Path $TestDrive 'report.pdf'
        $null = Invoke-Chromium @('--no-pdf-header-footer', "--print-to-pdf=$pdf", $page)
        $head = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($pdf), 0, 5)
        $head | Should -Be '%PDF-'
        (Get-Item $pdf).Length | Should -BeGreaterThan 10000
    }

    It 'is light, or dark when the reader prefers dark' {
        # The top-left pixel of a screenshot (PNG filters leave the first pixel as it is), read with Python's zlib.
        $pixel = @'
import sys, zlib, struct
data, pos, idat = open(sys.argv[1], "rb").read(), 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
print(sum(zlib.decompress(idat)[1:4]) // 3)
'@
        $light = Join-Path $TestDrive 'light.png'
        $dark = Join-Path $TestDrive 'dark.png'
        $null = Invoke-Chromium @('--blink-settings=preferredColorScheme=1', '--window-size=1100,900', "--screenshot=$light", $page)
        $null = Invoke-Chromium @('--blink-settings=preferredColorScheme=0', '--window-size=1100,900', "--screenshot=$dark", $page)
        [int](& /usr/bin/python3 -c $pixel $light) | Should -BeGreaterThan 200
        [int](& /usr/bin/python3 -c $pixel $dark) | Should -BeLessThan 60
    }

    It 'draws one lane per component for a plan' {
        $svc = Join-Path $TestDrive 'plan'
        New-Item -ItemType Directory -Force $svc | Out-Null
        Set-Content (Join-Path $svc 'a.yml') 'v: 1'
        Set-Content (Join-Path $svc 'b.yml') 'v: 1'
        Set-Content (Join-Path $svc 'ok.ps1') "if ((Get-Content '$svc/a.yml') -ne 'v: 1') { exit 1 }"
        $plan = Join-Path $svc 'rollback.psd1'
        Set-Content $plan "@{ Service = 'report-plan'; Components = @( @{ Name = 'alpha'; Strategy = 'Config'; Path = './a.yml' }; @{ Name = 'beta'; Strategy = 'Config'; Path = './b.yml' } ); SmokeTest = './ok.ps1' }"
        $planState = Join-Path $svc 'state'
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $planState
        Set-Content (Join-Path $svc 'a.yml') 'v: 2'
        Set-Content (Join-Path $svc 'b.yml') 'v: 2'
        $planResult = Invoke-Rollback -Plan $plan -StateDirectory $planState -Confirm:$false
        $planReport = $planResult | New-RollbackIncidentReport -Format Html
        $planDom = (Invoke-Chromium @('--dump-dom', "file://$($planReport.HtmlPath)")) -join "`n"
        foreach ($lane in 'alpha', 'beta', 'service') { $planDom | Should -Match "data-lane=`"$lane`"" }
        foreach ($component in 'alpha', 'beta') { $planDom | Should -Match "data-component=`"$component`"" }
    }
}
