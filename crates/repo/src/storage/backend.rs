//! rustic's backend traits over a [`Store`]: file types and ids become restic's paths.

use std::sync::Arc;

use bytes::Bytes;
use rustic_core::{BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend};

use super::Store;
use crate::error::RepoError;

/// A [`Store`] as rustic sees a backend.
#[derive(Debug, Clone)]
pub(crate) struct StoreBackend(pub(crate) Arc<dyn Store>);

/// Where a file of `tpe` and `id` lives in restic's layout.
fn path_of(tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex().to_string();
    match tpe {
        FileType::Config => "config".to_string(),
        FileType::Pack => format!("data/{}/{hex}", &hex[..2]),
        _ => format!("{}/{hex}", tpe.dirname()),
    }
}

/// Our error inside rustic's; `crate::error::storage` finds it again to keep its kind and hint.
fn to_rustic(err: RepoError) -> Box<RusticError> {
    let message = err.to_string();
    RusticError::with_source(ErrorKind::Backend, "{message}", err).attach_context("message", message)
}

impl ReadBackend for StoreBackend {
    fn location(&self) -> String {
        self.0.describe()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            return Ok(if self.0.exists("config").map_err(to_rustic)? { vec![(Id::default(), 0)] } else { Vec::new() });
        }
        let files = self.0.list(tpe.dirname()).map_err(to_rustic)?;
        // Names that are no id (a local folder's half-written `-tmp-` files) are not files of
        // the repository.
        Ok(files.into_iter().filter_map(|(name, size)| Some((Id::parse_some(&name, tpe)?, u32::try_from(size).ok()?))).collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.0.get(&path_of(tpe, id)).map_err(to_rustic)
    }

    fn read_partial(&self, tpe: FileType, id: &Id, _cacheable: bool, offset: u32, length: u32) -> RusticResult<Bytes> {
        self.0.get_range(&path_of(tpe, id), offset.into(), length.into()).map_err(to_rustic)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        path_of(tpe, id)
    }
}

impl WriteBackend for StoreBackend {
    fn create(&self) -> RusticResult<()> {
        self.0.create().map_err(to_rustic)
    }

    fn write_bytes(&self, tpe: FileType, id: &Id, _cacheable: bool, content: BytesList) -> RusticResult<()> {
        self.0.put(&path_of(tpe, id), content.slice()).map_err(to_rustic)
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        self.0.remove(&path_of(tpe, id)).map_err(to_rustic)
    }
}
