//! The top-level error: every layer's error, with a stable `kind()` (API error code, metric label)
//! and the exit code the command line uses.

use crate::engine::EngineError;
use crate::registry::RegistryError;
use crate::tokenize::TokenizeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Boxed: these carry paths and messages, and every `Result` in the crate carries this type.
    #[error("{0}")]
    Registry(Box<RegistryError>),
    #[error("{0}")]
    Tokenize(Box<TokenizeError>),
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The user asked for something invalid (a flag value, an input).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A model's files load but do not make a working model.
    #[error("cannot load model {model}: {message}")]
    Load { model: String, message: String },
    /// A fault on our side (a bug, a model thread that died): never the user's doing.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Error::Registry(Box::new(e))
    }
}

impl From<TokenizeError> for Error {
    fn from(e: TokenizeError) -> Self {
        Error::Tokenize(Box::new(e))
    }
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A fault on our side; the message is for the log and the operator.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// Whether this is our fault rather than the user's (HTTP 5xx, exit code 1).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Internal(_) | Error::Engine(EngineError::Panicked(_) | EngineError::Down)
        )
    }

    /// Stable machine-readable code.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Registry(e) => e.kind(),
            Error::Tokenize(_) => "tokenizer_error",
            Error::Engine(EngineError::DeviceUnavailable { .. }) => "device_unavailable",
            Error::Engine(EngineError::Panicked(_) | EngineError::Down) => "internal",
            Error::Internal(_) => "internal",
            Error::Engine(_) => "model_error",
            Error::Invalid { code, .. } => code,
            Error::Load { .. } => "model_load_failed",
            Error::Io { .. } => "io",
        }
    }

    /// Exit code for the command line: 2 for anything the user can fix by changing the command
    /// or its environment (bad input, unknown or missing model, no network), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Engine(
                EngineError::Model(_) | EngineError::Generate(_) | EngineError::Batch(_),
            ) => 1,
            Error::Io { .. } => 1,
            e if e.is_internal() => 1,
            _ => 2,
        }
    }
}
