BeforeDiscovery {
    # kubectl is on the machine image; without it these tests say so and skip, except in CI, where it must be there.
    $skipKubectl = -not (Get-Command kubectl -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    # The in-cluster test writes a service account where a pod has it; only as root, and never over a real one.
    $serviceAccount = '/var/run/secrets/kubernetes.io/serviceaccount'
    $skipInCluster = $skipKubectl -or (Test-Path $serviceAccount) -or ((id -u) -ne '0' -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1')
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $kube = Start-TestKubeApiServer -Folder (Join-Path $TestDrive 'kube')
    $kc = $kube.KubeConfig

    # Deploys a Deployment the way an admin does: kubectl create, then kubectl set image for each release.
    function New-TestDeployment([string] $Name, [string[]] $Images, [string] $Tier = 'web') {
        $manifest = Join-Path $TestDrive "$Name.yaml"
        Set-Content $manifest @"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $Name
  labels: { app: $Name, tier: $Tier }
spec:
  replicas: 2
  progressDeadlineSeconds: 3
  selector: { matchLabels: { app: $Name } }
  template:
    metadata:
      labels: { app: $Name, tier: $Tier }
    spec:
      containers:
      - name: app
        image: $($Images[0])
        env:
        - { name: LOG_LEVEL, value: info }
"@
        Invoke-TestKubectl $kc create -f $manifest | Out-Null
        Wait-TestRollout $kc $Name -Failing:($Images[0] -match 'crash|badpull|unready')
        foreach ($image in $Images | Select-Object -Skip 1) {
            Invoke-TestKubectl $kc set image "deployment/$Name" "app=$image" | Out-Null
            Wait-TestRollout $kc $Name -Failing:($image -match 'crash|badpull|unready')
        }
    }

    function Get-TestImage([string] $Name) { Invoke-TestKubectl $kc get deployment $Name -o 'jsonpath={.spec.template.spec.containers[0].image}' }
}

AfterAll {
    if ($kube.Process -and -not $kube.Process.HasExited) { Stop-Process -Id $kube.Process.Id -Force }
}

Describe 'Kubernetes strategy through the cmdlets, against the fake API server and the real kubectl' -Skip:$skipKubectl {
    BeforeEach { $state = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8)) }

    It 'assesses, rolls back to the last verified-good template, and reports, in one pipeline' {
        New-TestDeployment shop registry/shop:1.0
        Test-RollbackHealth -Strategy Kubernetes -Name shop -KubeConfig $kc -SmokeTest { $true } -RecordVerified -StateDirectory $state | Out-Null
        Invoke-TestKubectl $kc set image deployment/shop app=registry/shop:1.1 | Out-Null
        Wait-TestRollout $kc shop
        Invoke-TestKubectl $kc set image deployment/shop app=registry/shop:2.0-crash | Out-Null
        Wait-TestRollout $kc shop -Failing

        $assessment = Get-RollbackAssessment -Strategy Kubernetes -Name shop -KubeConfig $kc -StateDirectory $state
        $assessment.FailureType | Should -Be 'DeploymentNeverCompleted'
        $assessment.LastGoodVersion | Should -Match 'registry/shop:1\.0'
        $result = $assessment | New-RollbackCheckpoint -PassThru | Invoke-Rollback -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.TargetKey | Should -Be 'kubernetes:fake/default/deployment/shop'
        Get-TestImage shop | Should -Be 'registry/shop:1.0'
        (Invoke-TestKubectl $kc rollout status deployment/shop --timeout=10s) -join ' ' | Should -Match 'successfully rolled out'
        $report = $result | New-RollbackIncidentReport
        Get-Content -Raw $report.MarkdownPath | Should -Match 'registry/shop:1\.0'
        (Get-RollbackSignal -StateDirectory $state -Name ROLLBACK_COMPLETE).Subject | Should -Be 'kubernetes:fake/default/deployment/shop'
    }

    It 'shows the template difference with -WhatIf and changes nothing' {
        New-TestDeployment cart registry/cart:1.0, registry/cart:2.0-crash
        $generation = Invoke-TestKubectl $kc get deployment cart -o 'jsonpath={.metadata.generation}'
        $whatIf = Invoke-ChildPwsh -Script @"
Import-Module '$(Get-TestModulePath)'
Invoke-Rollback -Strategy Kubernetes -Name cart -KubeConfig '$kc' -StateDirectory '$state' -WhatIf
"@
        $whatIf.Output | Should -Match 'image registry/cart:2\.0-crash -> registry/cart:1\.0'
        $whatIf.Output | Should -Match 'kubectl rollout undo --to-revision=1'
        Invoke-TestKubectl $kc get deployment cart -o 'jsonpath={.metadata.generation}' | Should -Be $generation
        Get-TestImage cart | Should -Be 'registry/cart:2.0-crash'
    }

    It 'rolls back only the failing workloads that match -Selector, one result each' {
        New-TestDeployment api registry/api:1.0, registry/api:2.0-badpull -Tier backend
        New-TestDeployment worker registry/worker:1.0, registry/worker:2.0-crash -Tier backend
        New-TestDeployment cron registry/cron:1.0, registry/cron:2.0 -Tier backend
        $results = Invoke-Rollback -Strategy Kubernetes -Selector 'tier=backend' -KubeConfig $kc -StateDirectory $state -Confirm:$false
        $results.Count | Should -Be 3
        ($results | Where-Object Outcome -EQ 'Succeeded').TargetKey | Sort-Object | Should -Be @('kubernetes:fake/default/deployment/api', 'kubernetes:fake/default/deployment/worker')
        ($results | Where-Object Outcome -EQ 'Skipped').TargetKey | Should -Be 'kubernetes:fake/default/deployment/cron'
        Get-TestImage api | Should -Be 'registry/api:1.0'
        Get-TestImage worker | Should -Be 'registry/worker:1.0'
        Get-TestImage cron | Should -Be 'registry/cron:2.0'
    }

    It 'merges a KUBECONFIG list as kubectl does' {
        New-TestDeployment merged registry/merged:1.0, registry/merged:2.0-crash
        # The first file names only the current context; the context, cluster and user come from the second; a missing one is skipped.
        $first = Join-Path $TestDrive 'first.yaml'
        Set-Content -LiteralPath $first -Value "apiVersion: v1`nkind: Config`ncurrent-context: fake`n"
        $list = @($first, (Join-Path $TestDrive 'absent.yaml'), $kc) -join [IO.Path]::PathSeparator
        $run = Invoke-ChildPwsh -Environment @{ KUBECONFIG = $list } -Script @"
Import-Module '$(Get-TestModulePath)'
`$r = Invoke-Rollback -Strategy Kubernetes -Name merged -StateDirectory '$state' -Confirm:`$false
"`$(`$r.Outcome) `$(`$r.TargetKey)"
"@
        $run.Error | Should -BeNullOrEmpty
        $run.Output.Trim() | Should -Be 'Succeeded kubernetes:fake/default/deployment/merged'
        Get-TestImage merged | Should -Be 'registry/merged:1.0'
    }

    It 'stops with an error id a runbook can catch, and changes nothing' {
        New-TestDeployment errs registry/errs:1.0, registry/errs:2.0
        { Invoke-Rollback -Strategy Kubernetes -Name missing -KubeConfig $kc -StateDirectory $state -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KubernetesWorkloadNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Strategy Kubernetes -Name errs -Context prod -KubeConfig $kc -StateDirectory $state -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KubernetesContextNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        { Invoke-Rollback -Strategy Kubernetes -Name errs -Target 42 -KubeConfig $kc -StateDirectory $state -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KubernetesRevisionNotFound,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-RollbackHistory -StateDirectory $state | Should -BeNullOrEmpty
        Get-TestImage errs | Should -Be 'registry/errs:2.0'
    }

    It 'stops a plan in preflight when a workload is managed by Argo CD or paused, and changes nothing' {
        New-TestDeployment gitops registry/gitops:1.0
        New-TestDeployment paused registry/paused:1.0
        $plan = Join-Path $state 'rollback.psd1'
        New-Item -ItemType Directory -Force $state | Out-Null
        Set-Content $plan "@{ Service = 'k8s-plan'; Components = @( @{ Name = 'gitops'; Strategy = 'Kubernetes'; KubeConfig = '$kc' }; @{ Name = 'paused'; Strategy = 'Kubernetes'; KubeConfig = '$kc' } ); SmokeTest = './smoke.ps1' }"
        Set-Content (Join-Path $state 'smoke.ps1') 'exit 1'
        $null = Test-RollbackHealth -Plan $plan -SmokeTest { $true } -RecordVerified -StateDirectory $state
        foreach ($name in 'gitops', 'paused') {
            Invoke-TestKubectl $kc set image "deployment/$name" "app=registry/${name}:1.1" | Out-Null
            Wait-TestRollout $kc $name
        }
        Invoke-TestKubectl $kc annotate deployment/gitops 'argocd.argoproj.io/tracking-id=shop:apps/Deployment:default/gitops' | Out-Null
        Invoke-TestKubectl $kc rollout pause deployment/paused | Out-Null

        $assessment = Get-RollbackAssessment -Plan $plan -StateDirectory $state
        $assessment.CanRollBack | Should -BeFalse
        ($assessment.Components | Where-Object Name -EQ gitops).Problems | Should -Match 'managed by Argo CD'
        ($assessment.Components | Where-Object Name -EQ paused).Problems | Should -Match 'is paused'
        { Invoke-Rollback -Plan $plan -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'PlanPreflightFailed,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*Argo CD*paused*'
        Get-TestImage gitops | Should -Be 'registry/gitops:1.1'
        Get-TestImage paused | Should -Be 'registry/paused:1.1'
    }
}

Describe 'Kubernetes from inside a pod (in-cluster service account)' -Skip:$skipInCluster {
    BeforeAll {
        $serviceAccount = '/var/run/secrets/kubernetes.io/serviceaccount'
        $secure = Start-TestKubeApiServer -Folder (Join-Path $TestDrive 'kube-tls') -Arguments @('--tls', '--token', 'pod-sa-token')
        # The pod's view: a token, the cluster's CA and a namespace file, and the service's address in the environment.
        New-Item -ItemType Directory -Force $serviceAccount | Out-Null
        Set-Content -NoNewline -LiteralPath (Join-Path $serviceAccount 'token') -Value 'pod-sa-token'
        Set-Content -NoNewline -LiteralPath (Join-Path $serviceAccount 'namespace') -Value 'default'
        $ca = (Get-Content -Raw $secure.KubeConfig) -match 'certificate-authority-data: (\S+)' | ForEach-Object { [Text.Encoding]::ASCII.GetString([Convert]::FromBase64String($Matches[1])) }
        Set-Content -NoNewline -LiteralPath (Join-Path $serviceAccount 'ca.crt') -Value $ca
    }

    AfterAll {
        Remove-Item '/var/run/secrets' -Recurse -Force -ErrorAction SilentlyContinue
        if ($secure.Process -and -not $secure.Process.HasExited) { Stop-Process -Id $secure.Process.Id -Force }
    }

    It 'uses the service account when there is no kubeconfig' {
        $kc = $secure.KubeConfig
        New-TestDeployment pod-app registry/pod-app:1.0, registry/pod-app:2.0-crash
        $port = ([Uri]$secure.Uri).Port
        $home_ = Join-Path $TestDrive 'empty-home'
        New-Item -ItemType Directory -Force $home_ | Out-Null
        $run = Invoke-ChildPwsh -Environment @{ KUBERNETES_SERVICE_HOST = '127.0.0.1'; KUBERNETES_SERVICE_PORT = "$port"; HOME = $home_; KUBECONFIG = '' } -Script @"
Import-Module '$(Get-TestModulePath)'
`$r = Invoke-Rollback -Strategy Kubernetes -Name pod-app -StateDirectory '$(Join-Path $TestDrive 'pod-state')' -Confirm:`$false
"`$(`$r.Outcome) `$(`$r.TargetKey)"
"@
        $run.Error | Should -BeNullOrEmpty
        $run.Output.Trim() | Should -Be 'Succeeded kubernetes:in-cluster/default/deployment/pod-app'
        Get-TestImage pod-app | Should -Be 'registry/pod-app:1.0'
    }
}
