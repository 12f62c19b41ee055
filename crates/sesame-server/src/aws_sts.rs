//! STS `AssumeRole` with the server's own AWS credentials, found as every AWS tool finds them
//! (the environment, the shared config and credentials files, SSO, web identity, the ECS and
//! EC2 providers) by the AWS SDK. `AWS_ENDPOINT_URL_STS` points it at another STS (the tests
//! use moto's). The region defaults to us-east-1 when none is configured.

use async_trait::async_trait;

/// Credentials STS gave, as the server hands them on. No `Debug`: it holds the secret key.
#[derive(Clone)]
pub struct Assumed {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Unix seconds.
    pub expiration: i64,
}

/// Assumes a role for a user: the SDK's STS client, or a stand-in in tests.
#[async_trait]
pub trait AssumeRole: Send + Sync {
    /// The role's credentials for `session_name`, lasting `duration` seconds; the error is
    /// STS's own explanation, one line.
    async fn assume(
        &self,
        role: &str,
        session_name: &str,
        duration: u64,
    ) -> Result<Assumed, String>;
}

/// The AWS SDK's STS client, configured on first use.
#[derive(Default)]
pub struct SdkSts {
    client: tokio::sync::OnceCell<aws_sdk_sts::Client>,
}

impl SdkSts {
    async fn client(&self) -> &aws_sdk_sts::Client {
        self.client
            .get_or_init(|| async {
                let region = aws_config::meta::region::RegionProviderChain::default_provider()
                    .or_else("us-east-1");
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(region)
                    .load()
                    .await;
                aws_sdk_sts::Client::new(&config)
            })
            .await
    }
}

#[async_trait]
impl AssumeRole for SdkSts {
    async fn assume(
        &self,
        role: &str,
        session_name: &str,
        duration: u64,
    ) -> Result<Assumed, String> {
        let out = self
            .client()
            .await
            .assume_role()
            .role_arn(role)
            .role_session_name(session_name)
            .duration_seconds(i32::try_from(duration).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_sts::error::DisplayErrorContext(&e).to_string();
                text.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(300)
                    .collect::<String>()
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| "STS sent no credentials".to_string())?;
        Ok(Assumed {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
            expiration: c.expiration().secs(),
        })
    }
}
